"""Presets are data: the arguments of a factory and of its training schedule, by name."""

LANGUAGE_MODEL_PRESETS = {
    # Zaremba, Sutskever & Vinyals 2014, as configured in the TensorFlow PTB tutorial
    # (SmallConfig / MediumConfig / LargeConfig). Test perplexities there: 115.9 / 82.1 / 78.3.
    "ptb-small": {
        "model": {"units": 200, "num_layers": 2, "dropout": 0.0, "init_scale": 0.1},
        "training": {
            "batch_size": 20,
            "num_steps": 20,
            "epochs": 13,
            "learning_rate": 1.0,
            "lr_decay": 0.5,
            "decay_after_epoch": 4,
            "max_grad_norm": 5.0,
        },
    },
    "ptb-medium": {
        "model": {"units": 650, "num_layers": 2, "dropout": 0.5, "init_scale": 0.05},
        "training": {
            "batch_size": 20,
            "num_steps": 35,
            "epochs": 39,
            "learning_rate": 1.0,
            "lr_decay": 0.8,
            "decay_after_epoch": 6,
            "max_grad_norm": 5.0,
        },
    },
    "ptb-large": {
        "model": {"units": 1500, "num_layers": 2, "dropout": 0.65, "init_scale": 0.04},
        "training": {
            "batch_size": 20,
            "num_steps": 35,
            "epochs": 55,
            "learning_rate": 1.0,
            "lr_decay": 1 / 1.15,
            "decay_after_epoch": 14,
            "max_grad_norm": 10.0,
        },
    },
}


def language_model_preset(name):
    """The preset `name` (a copy); ValueError listing the known names otherwise."""
    if name not in LANGUAGE_MODEL_PRESETS:
        known = ", ".join(sorted(LANGUAGE_MODEL_PRESETS))
        raise ValueError(f"Unknown language-model preset {name!r}; known presets: {known}.")
    preset = LANGUAGE_MODEL_PRESETS[name]
    return {key: dict(value) for key, value in preset.items()}
