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
    # The offline demo (`lstm-zoo demo`): ptb-small's shape and schedule, sized to train on
    # CPython's documentation (about 100k words) in a few minutes on 2 CPU cores.
    "pydoc-demo": {
        "model": {"units": 200, "num_layers": 2, "dropout": 0.0, "init_scale": 0.1},
        "training": {
            "batch_size": 20,
            "num_steps": 20,
            "epochs": 4,
            "learning_rate": 1.0,
            "lr_decay": 0.5,
            "decay_after_epoch": 3,
            "max_grad_norm": 5.0,
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


SENTIMENT_PRESETS = {
    # The design notes' Keras model: Embedding(pretrained, frozen, mask_zero) -> LSTM(64,
    # dropout=0.1, recurrent_dropout=0.1) -> Dense(64, relu) -> Dropout(0.5) -> softmax over the
    # vocabulary: a next-word predictor over fixed-length windows. (Its Masking(0.0) layer is
    # left out: after mask_zero it only adds masking of real words whose vector is all zeros.)
    "seed-keras-next-word": {
        "units": 64,
        "num_layers": 1,
        "hidden_units": 64,
        "dropout": 0.5,
        "trainable_embeddings": False,
        "layer_kwargs": {"dropout": 0.1, "recurrent_dropout": 0.1},
    },
    # The design notes' PyTorch LSTMNet: Embedding -> multi-layer bidirectional LSTM over packed
    # sequences -> [final forward h, final backward h] -> Dense(output_dim) -> sigmoid. Sizes
    # are not given there; these are the common ones of that recipe.
    "seed-torch-lstmnet": {
        "units": 256,
        "num_layers": 2,
        "bidirectional": True,
        "dropout": 0.5,
        "trainable_embeddings": True,
        "layer_kwargs": {},
    },
}


def sentiment_preset(name):
    """The sentiment preset `name` (a copy); ValueError listing the known names otherwise."""
    if name not in SENTIMENT_PRESETS:
        known = ", ".join(sorted(SENTIMENT_PRESETS))
        raise ValueError(f"Unknown sentiment preset {name!r}; known presets: {known}.")
    preset = dict(SENTIMENT_PRESETS[name])
    preset["layer_kwargs"] = dict(preset["layer_kwargs"])
    return preset
