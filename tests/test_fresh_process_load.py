"""`import lstm_zoo` registers every serializable class: each factory's `.keras` file loads
with safe_mode=True in a fresh process that imports only keras and lstm_zoo, and gives the
outputs of the model that wrote it."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np

import lstm_zoo
from lstm_zoo.models import language_model, sentiment_classifier, sequence_tagger

TOKENS = np.array([[3, 1, 4, 1, 5], [2, 6, 0, 0, 0]], dtype="int32")
CHARS = np.array(
    [
        [[2, 3, 0], [4, 0, 0], [5, 6, 7], [2, 0, 0], [3, 3, 0]],
        [[4, 5, 0], [6, 0, 0]] + [[0] * 3] * 3,
    ],
    dtype="int32",
)

FACTORIES = {
    "lm": lambda: language_model(8, cell="zoo_lstm", units=4, num_layers=1),
    "lm_tied": lambda: language_model(
        8, cell="peephole", units=4, num_layers=1, tie_embeddings=True
    ),
    "lm_tied_projection": lambda: language_model(
        8, cell="lstm", embedding_dim=3, units=4, num_layers=1, tie_embeddings=True
    ),
    "sentiment": lambda: sentiment_classifier(vocab_size=8, embedding_dim=4, units=4),
    "sentiment_pooled": lambda: sentiment_classifier(
        vocab_size=8,
        embedding_dim=4,
        units=4,
        cell="zoo_gru",
        bidirectional=True,
        pooling="max",
        num_classes=3,
    ),
    "tagger": lambda: sequence_tagger(3, vocab_size=8, embedding_dim=4, units=4),
    "tagger_crf": lambda: sequence_tagger(3, vocab_size=8, embedding_dim=4, units=4, crf=True),
    "tagger_chars": lambda: sequence_tagger(
        3,
        vocab_size=8,
        embedding_dim=4,
        units=4,
        char_features=True,
        char_vocab_size=8,
        char_embedding_dim=3,
        char_units=2,
    ),
}

LOADER = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import keras
    import lstm_zoo  # the only package import besides keras

    before = {k for k in keras.saving.get_custom_objects() if k.startswith("lstm_zoo>")}
    modules = sorted(m for m in sys.modules if m.startswith("lstm_zoo"))
    directory = sys.argv[1]
    report = {}
    for name in json.loads(sys.argv[2]):
        model = keras.saving.load_model(f"{directory}/{name}.keras", safe_mode=True)
        data = np.load(f"{directory}/{name}.npz")
        inputs = data["tokens"]
        if "characters" in data:
            inputs = {"tokens": data["tokens"], "characters": data["characters"]}
        output = model(inputs, training=False)
        if isinstance(output, dict):
            output = output["emissions"]
        report[name] = float(np.max(np.abs(keras.ops.convert_to_numpy(output) - data["output"])))
    result = {"differences": report, "registered": sorted(before), "modules": modules}
    print("RESULT", json.dumps(result))
    """
)


def test_every_factory_loads_in_a_fresh_process_after_import_lstm_zoo(tmp_path):
    import keras

    for name, factory in FACTORIES.items():
        model = factory()
        inputs = {"tokens": TOKENS, "characters": CHARS} if name == "tagger_chars" else TOKENS
        output = model(inputs, training=False)
        if isinstance(output, dict):
            output = output["emissions"]
        model.save(tmp_path / f"{name}.keras")
        arrays = {"tokens": TOKENS, "output": keras.ops.convert_to_numpy(output)}
        if name == "tagger_chars":
            arrays["characters"] = CHARS
        np.savez(tmp_path / f"{name}.npz", **arrays)
    result = subprocess.run(
        [sys.executable, "-c", LOADER, str(tmp_path), json.dumps(list(FACTORIES))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(x for x in result.stdout.splitlines() if x.startswith("RESULT "))
    report = json.loads(line[len("RESULT ") :])
    assert set(report["differences"]) == set(FACTORIES)
    for name, difference in report["differences"].items():
        assert difference < 1e-5, (name, difference)
    # Everything this process registered (it imported the factories' modules) is registered
    # by `import lstm_zoo` alone.
    # Classes defined by tests (e.g. a late-registered cell in tests/cells) are left out: only
    # the package's own classes must come with `import lstm_zoo`.
    here = {
        k
        for k, v in keras.saving.get_custom_objects().items()
        if k.startswith("lstm_zoo>")
        and getattr(getattr(v, "cell_class", v), "__module__", "").startswith("lstm_zoo")
    }
    assert here <= set(report["registered"]), sorted(here - set(report["registered"]))
    # And every module of the package that registers a class is imported by `import lstm_zoo`
    # (a new module with a serializable class must be imported from lstm_zoo/__init__.py).
    package = Path(lstm_zoo.__file__).parent
    registering = {
        ".".join(("lstm_zoo", *path.relative_to(package).with_suffix("").parts))
        for path in package.rglob("*.py")
        if "register_keras_serializable" in path.read_text()
    }
    assert registering <= set(report["modules"]), sorted(registering - set(report["modules"]))
