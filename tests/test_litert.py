"""LiteRT export: every registered cell and every factory, run in the ai-edge-litert
interpreter and compared with the Keras model (float32 to 1e-5), masks and padding included;
no Flex or custom op in any file."""

import json

import keras
import numpy as np
import pytest

import lstm_zoo
from lstm_zoo.layers.bidirectional import Bidirectional
from lstm_zoo.litert import (
    encode_for_litert,
    export_litert,
    litert_interpreter,
    op_names,
    run_litert,
)
from lstm_zoo.models import language_model, sentiment_classifier
from lstm_zoo.models.tagger import sequence_tagger

pytest.importorskip(
    "ai_edge_litert.interpreter",
    reason="ai-edge-litert is not installed (pip install ai-edge-litert, or the test extra)",
)

ATOL = RTOL = 1e-5
# Quantised files on the model of test_quantised_within_tolerance (a bidirectional classifier,
# 32 units, weights of 1,024+ elements, so the converter quantises them): largest absolute
# difference of the output probabilities, measured 2026-12-02 at 1.0e-6 (float16, fused lstm),
# 1.3e-5 (int8, fused peephole) and 3.2e-5 (int8, unrolled zoo_gru); the bounds leave ~6x.
QUANTISED_ATOL = {"float16": 6e-6, "dynamic_int8": 2e-4}
QUANTISED_TYPE = {"float16": 1, "dynamic_int8": 9}  # TFLite TensorType FLOAT16, INT8

# Token ids [4, 6]: right padding, no padding, left padding with a padded step inside, all
# padding. Keras masks id 0 (mask_zero); a masked step carries the states.
TOKENS = np.array(
    [[3, 7, 2, 0, 0, 0], [5, 1, 9, 4, 11, 6], [0, 0, 8, 0, 2, 10], [0, 0, 0, 0, 0, 0]],
    dtype="int32",
)


def _close(actual, expected, atol=ATOL, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=atol, rtol=rtol)


def _builtin_only(info):
    assert info.ops, "no ops read from the file"
    assert not [op for op in info.ops if op.startswith("Flex") or op == "CUSTOM"], info.ops
    with open(info.path, "rb") as file:
        assert op_names(file.read()) == info.ops


def _layer_model(name):
    """Embedding(mask_zero) -> zoo Bidirectional (sequences) -> a go_backwards layer (last)."""
    keras.utils.set_random_seed(3)
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(12, 3, mask_zero=True)(tokens)
    x = Bidirectional(lstm_zoo.recurrent_layer(name, 4, return_sequences=True))(x)
    sequence = keras.layers.Identity(name="sequence")(x)
    last = lstm_zoo.recurrent_layer(name, 4, go_backwards=True, name="last")(x)
    return keras.Model(tokens, {"sequence": sequence, "last": last})


@pytest.mark.parametrize("name", lstm_zoo.available_recurrent_layers())
def test_every_cell_as_while_loop(name, tmp_path):
    model = _layer_model(name)
    expected = model(TOKENS, training=False)
    info = export_litert(
        model, str(tmp_path / "m.tflite"), sequence_length=6, batch_size=4, recurrence="while"
    )
    _builtin_only(info)
    assert "WHILE" in info.ops and set(info.recurrences.values()) == {"while"}
    got = run_litert(info.path, {"tokens": TOKENS})
    _close(got["sequence"], expected["sequence"])
    _close(got["last"], expected["last"])


def test_layer_norm_lstm_is_not_fused_and_existing_files_are_refused(tmp_path):
    """TFLite's layer-norm operands normalise each gate's sum xW + hU (gain, no shift, no c_t
    norm), not Ba et al.'s LN(xW) + LN(hU) and LN(c_t): "fused" gives this layer its WHILE loop.
    A second export to the same file is refused unless overwrite=True, and leaves no partial
    file."""
    model = _layer_model("layer_norm_lstm")
    path = str(tmp_path / "m.tflite")
    info = export_litert(model, path, sequence_length=6, batch_size=4, recurrence="fused")
    assert set(info.recurrences.values()) == {"while"}
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" not in info.ops
    with pytest.raises(FileExistsError, match="m.tflite exists; pass overwrite=True"):
        export_litert(model, path, sequence_length=6, batch_size=4, recurrence="fused")
    (tmp_path / "m.tflite").unlink()
    with pytest.raises(FileExistsError, match="m.json exists"):
        export_litert(model, path, sequence_length=6, batch_size=4, recurrence="fused")
    again = export_litert(model, path, sequence_length=5, batch_size=4, overwrite=True)
    assert json.loads((tmp_path / "m.json").read_text())["sequence_length"] == 5
    assert again.size_bytes == (tmp_path / "m.tflite").stat().st_size
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "m.tflite"]


@pytest.mark.parametrize("name", ["peephole", "gru"])
def test_unrolled_equals_keras(name, tmp_path):
    model = _layer_model(name)
    expected = model(TOKENS, training=False)
    info = export_litert(
        model, str(tmp_path / "m.tflite"), sequence_length=6, batch_size=4, recurrence="unroll"
    )
    _builtin_only(info)
    assert "WHILE" not in info.ops
    got = run_litert(info.path, {"tokens": TOKENS})
    _close(got["sequence"], expected["sequence"])
    _close(got["last"], expected["last"])


def _large_constant_types(path):
    """The tensor types of the constants of 1,024 elements or more in a .tflite file."""
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(path)
    return {
        tensor.type
        for graph in model.subgraphs
        for tensor in graph.tensors
        if model.buffers[tensor.buffer].data is not None and int(np.prod(tensor.shape)) >= 1024
    }


def _fused_operands(path):
    """The operand lists of the UNIDIRECTIONAL_SEQUENCE_LSTM ops of a .tflite file."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(path)
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    fused = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    return [
        list(op.inputs)
        for graph in model.subgraphs
        for op in graph.operators
        if codes[op.opcodeIndex] == fused
    ]


@pytest.mark.parametrize("name", ["lstm", "zoo_lstm", "peephole", "coupled"])
def test_fused_lstm_kernel_with_masks(name, tmp_path):
    """Right, left and inner padding and an all-padding row through the fused kernel (it has no
    mask input: real steps are packed to the front and spread back); peephole weights and the
    coupled input-forget gate (CIFG) as the kernel's own operands."""
    model = _layer_model(name)
    if name == "peephole":  # large peepholes: without them the outputs differ by > 1e-3
        for weight in model.weights:
            if weight.name.endswith("peephole_weights"):
                weight.assign(np.linspace(-2.0, 2.0, weight.shape[0]).astype("float32"))
        without = keras.models.clone_model(model)
        without.set_weights([w.numpy() * ("peephole" not in w.path) for w in model.weights])
        difference = np.abs(np.asarray(without(TOKENS)["last"]) - np.asarray(model(TOKENS)["last"]))
        assert difference.max() > 1e-3  # 100 x the tolerance
    expected = model(TOKENS, training=False)
    info = export_litert(model, str(tmp_path / "m.tflite"), sequence_length=6, batch_size=4)
    _builtin_only(info)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in info.ops and "WHILE" not in info.ops
    assert set(info.recurrences.values()) == {"fused"}
    operands = _fused_operands(info.path)
    assert len(operands) == 3
    for inputs in operands:  # 1, 5, 12: input gate; 9, 10, 11: peepholes
        assert (inputs[1] == -1) == (name == "coupled") == (inputs[12] == -1)
        assert (inputs[9] != -1) == (name == "peephole") == (inputs[11] != -1)
    got = run_litert(info.path, {"tokens": TOKENS})
    _close(got["sequence"], expected["sequence"])
    _close(got["last"], expected["last"])


def test_fused_lstm_does_not_clip_the_cell(tmp_path):
    """The converter writes cell_clip=10 into the fused op; Keras does not clip: |c| reaches
    14 here and the outputs would differ by 3e-4."""
    inputs = keras.Input((None, 2))
    layer = keras.layers.LSTM(3, return_sequences=True)
    model = keras.Model(inputs, layer(inputs))
    kernel, recurrent, bias = model.get_weights()
    kernel[:], recurrent[:], bias[:] = 0.0, 0.0, 30.0  # gates open; candidate = tanh(30 x_0)
    kernel[0, 6:9], bias[6:9] = 30.0, 0.0
    model.set_weights([kernel, recurrent, bias])
    x = np.ones((1, 20, 2), "float32")
    x[0, 14:, 0] = -1.0  # c climbs to 14, then falls to 8
    info = export_litert(model, str(tmp_path / "clip.tflite"), sequence_length=20)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in info.ops
    (got,) = run_litert(info.path, x).values()
    _close(got, model(x))


def test_return_state_and_stacked_cells(tmp_path):
    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, 3), name="features")
    cells = [lstm_zoo.cells.PeepholeLSTMCell(4), keras.layers.GRUCell(3)]
    outputs = keras.layers.RNN(cells, return_state=True, return_sequences=True)(inputs)
    model = keras.Model(inputs, outputs)
    x = np.random.RandomState(0).randn(2, 5, 3).astype("float32")
    expected = keras.tree.flatten(model(x))  # sequences, [h, c] of the peephole cell, [h]
    info = export_litert(model, str(tmp_path / "s.tflite"), sequence_length=5, batch_size=2)
    got = run_litert(info.path, {"features": x})
    assert len(got) == len(expected) == 4
    for name, value in zip(info.outputs, expected):
        _close(got[name], value)


def _check_factory(model, inputs, tmp_path, file_name="f.tflite", **kwargs):
    expected = model(inputs if len(inputs) > 1 else inputs["tokens"], training=False)
    if not isinstance(expected, dict):
        expected = {"output": expected}
    batch, steps = inputs["tokens"].shape
    info = export_litert(
        model, str(tmp_path / file_name), sequence_length=steps, batch_size=batch, **kwargs
    )
    _builtin_only(info)
    got = run_litert(info.path, inputs)
    if list(expected) == ["output"]:
        expected = {info.outputs[0]: expected["output"]}
    assert set(got) == set(expected)
    for key, value in expected.items():
        _close(got[key], value)
    return info


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cell": "coupled", "bidirectional": True, "pooling": "max", "num_layers": 2},
        {"cell": "zoo_lstm", "bidirectional": True, "num_classes": 3, "hidden_units": 5},
    ],
    ids=["coupled-bi-max", "zoo_lstm-bi-last"],
)
def test_sentiment_classifier(kwargs, tmp_path):
    keras.utils.set_random_seed(5)
    model = sentiment_classifier(vocab_size=12, embedding_dim=5, units=4, **kwargs)
    _check_factory(model, {"tokens": TOKENS}, tmp_path)


def test_language_model_tied_and_untied(tmp_path):
    keras.utils.set_random_seed(6)
    tied = language_model(12, cell="zoo_lstm", units=4, embedding_dim=3, tie_embeddings=True)
    info = _check_factory(tied, {"tokens": TOKENS}, tmp_path)
    assert info.outputs == ("logits",)
    plain = language_model(12, cell="zoo_gru", units=4, num_layers=2)
    _check_factory(plain, {"tokens": TOKENS}, tmp_path, "plain.tflite", recurrence="while")


def test_tagger_with_crf_and_characters(tmp_path):
    keras.utils.set_random_seed(7)
    characters = np.random.RandomState(1).randint(1, 9, size=(4, 6, 4)).astype("int32")
    characters[:, :, 3:] = 0
    characters[TOKENS == 0] = 0  # padding words have no characters
    characters[1, 2, 1:] = 0
    model = sequence_tagger(
        5,
        vocab_size=12,
        cell="peephole",
        units=4,
        crf=True,
        char_features=True,
        char_vocab_size=9,
        char_embedding_dim=3,
        char_units=3,
    )
    info = _check_factory(
        model, {"tokens": TOKENS, "characters": characters}, tmp_path, char_length=4
    )
    assert info.recurrences["char_features/char_bidirectional/forward"] == "fused"


def test_tagger_softmax(tmp_path):
    keras.utils.set_random_seed(8)
    model = sequence_tagger(5, vocab_size=12, cell="zoo_gru", units=4)
    _check_factory(model, {"tokens": TOKENS}, tmp_path)


@pytest.mark.parametrize(
    ("quantization", "cell"),
    [("float16", "lstm"), ("dynamic_int8", "peephole"), ("dynamic_int8", "zoo_gru")],
)
def test_quantised_within_tolerance(quantization, cell, tmp_path):
    """int8 peephole: the hybrid fused kernel with int8 peephole weights; zoo_gru: a WHILE
    loop whose body's matmuls run on int8 weights."""
    keras.utils.set_random_seed(9)
    model = sentiment_classifier(
        vocab_size=64, embedding_dim=32, cell=cell, units=32, bidirectional=True
    )
    tokens = np.random.RandomState(2).randint(1, 64, size=(4, 10)).astype("int32")
    tokens[0, 6:] = 0
    expected = np.asarray(model(tokens, training=False))
    sizes = {}
    for q in ("float32", quantization):
        info = export_litert(
            model, str(tmp_path / f"{q}.tflite"), sequence_length=10, batch_size=4, quantization=q
        )
        _builtin_only(info)
        sizes[q] = info.size_bytes
        got = run_litert(info.path, {"tokens": tokens})["probabilities"]
        if q != "float32":  # every weight of 1,024+ elements is stored quantised
            assert _large_constant_types(info.path) == {QUANTISED_TYPE[q]}
    assert sizes[quantization] < 0.8 * sizes["float32"]
    print(f"{cell} {quantization}: max |difference| {np.abs(got - expected).max():.2e}")
    _close(got, expected, atol=QUANTISED_ATOL[quantization], rtol=0)
    assert not np.array_equal(got, expected)  # quantisation did change something


def test_vocabulary_and_python_tokenizing(tmp_path):
    keras.utils.set_random_seed(10)
    vocabulary = ["<pad>", "<oov>", "a", "fine", "film", "dull", "plot"]
    model = sentiment_classifier(vocab_size=len(vocabulary), embedding_dim=4, units=3)
    info = export_litert(
        model,
        str(tmp_path / "c.tflite"),
        sequence_length=5,
        batch_size=2,
        vocabulary=vocabulary,
        labels=["neg", "pos"],
        lowercase=True,
    )
    metadata = json.loads(open(info.metadata_path, encoding="utf-8").read())
    assert metadata["vocabulary"] == vocabulary and metadata["labels"] == ["neg", "pos"]
    assert metadata["inputs"] == {"tokens": [[2, 5], "int32"]}
    encoded = encode_for_litert(["A fine FILM", "dull unseen"], info.metadata_path)
    np.testing.assert_array_equal(encoded["tokens"], [[2, 3, 4, 0, 0], [5, 1, 0, 0, 0]])
    got = run_litert(info.path, encoded)["probabilities"]
    _close(got, model(encoded["tokens"], training=False))
    with pytest.raises(ValueError, match="the export takes 5"):
        encode_for_litert(["a a a a a a"], metadata)


def test_interpreter_lists_the_same_builtin_ops(tmp_path):
    model = sentiment_classifier(vocab_size=12, embedding_dim=3, cell="zoo_lstm", units=3)
    info = export_litert(model, str(tmp_path / "c.tflite"), sequence_length=4)
    interpreter = litert_interpreter(info.path, delegates=False)
    main_graph = {op["op_name"] for op in interpreter._get_ops_details()}
    assert main_graph <= set(info.ops) and "UNIDIRECTIONAL_SEQUENCE_LSTM" in main_graph


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sequence_length": 0}, "sequence_length must be in"),
        ({"sequence_length": 4, "batch_size": 2.5}, "batch_size must be an integer"),
        ({"sequence_length": 4, "quantization": "int4"}, "quantization must be one of"),
        ({"sequence_length": 4, "recurrence": "scan"}, "recurrence must be one of"),
    ],
)
def test_argument_errors(kwargs, message, tmp_path):
    model = sentiment_classifier(vocab_size=12, embedding_dim=3, units=3)
    with pytest.raises(ValueError, match=message):
        export_litert(model, str(tmp_path / "x.tflite"), **kwargs)


def test_layer_it_cannot_rewrite_is_named(tmp_path):
    class Hidden(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.rnn = keras.layers.LSTM(3)

        def call(self, x):
            return self.rnn(x)

    inputs = keras.Input((None, 2))
    model = keras.Model(inputs, Hidden(name="hidden_rnn")(inputs))
    with pytest.raises(ValueError, match="'hidden_rnn'"):
        export_litert(model, str(tmp_path / "x.tflite"), sequence_length=4)


def test_cli_export_litert(tmp_path, capsys):
    from lstm_zoo.cli import main
    from lstm_zoo.runs import Run, save_run

    keras.utils.set_random_seed(11)
    vocabulary = ["<pad>", "<oov>", "good", "bad"]
    model = sentiment_classifier(vocab_size=4, embedding_dim=3, cell="coupled", units=3)
    run_dir = save_run(tmp_path / "run", Run("sentiment", vocabulary, ["neg", "pos"]), model)
    output = tmp_path / "out" / "model.tflite"
    command = ["export", str(run_dir), str(output), "--format", "litert"]
    assert main(command + ["--sequence-length", "0"]) == 2
    error = capsys.readouterr().err
    assert "--sequence-length" in error and "[1, 100000]" in error and "0" in error
    assert main(command + ["--sequence-length", "6", "--batch-size", "-1"]) == 2
    error = capsys.readouterr().err
    assert "--batch-size" in error and "[1, 100000]" in error and "-1" in error
    assert main(command + ["--sequence-length", "6", "--quantization", "float16"]) == 0
    assert main(command + ["--sequence-length", "6"]) == 2  # the file exists now
    assert "exists; give --overwrite" in capsys.readouterr().err
    assert (
        main(command + ["--sequence-length", "6", "--quantization", "float16", "--overwrite"]) == 0
    )
    metadata = json.loads((tmp_path / "out" / "model.json").read_text())
    # The run's task model's vocabulary: the older "<oov>" spelling reads as "<unk>", same ids.
    assert metadata["vocabulary"] == ["<pad>", "<unk>", "good", "bad"]
    assert metadata["quantization"] == "float16"
    got = run_litert(str(output), encode_for_litert(["good bad good"], metadata))
    expected = model(np.array([[2, 3, 2, 0, 0, 0]], "int32"), training=False)
    _close(got["probabilities"], expected, atol=2e-3)


def test_cli_export_litert_of_a_preset_keeps_its_tokenization(tmp_path):
    from lstm_zoo.cli import main
    from lstm_zoo.models import TextClassifier
    from lstm_zoo.presets import save_to_preset

    keras.utils.set_random_seed(12)
    model = TextClassifier.build(
        ["good", "bad", "film", "!"], ["neg", "pos"], level="word_punct", units=3, embedding_dim=3
    )
    preset = save_to_preset(model, tmp_path / "preset")
    output = tmp_path / "preset.tflite"
    command = ["export", str(preset), str(output), "--format", "litert", "--sequence-length", "6"]
    assert main(command + ["--batch-size", "2"]) == 0
    metadata = json.loads((tmp_path / "preset.json").read_text())
    assert metadata["level"] == "word_punct" and metadata["lowercase"] is True
    texts = ["GOOD film!", "bad\u3000film, bad"]  # case folding, a Unicode space, punctuation
    inputs = encode_for_litert(texts, metadata)
    assert inputs["tokens"].tolist() == [[2, 4, 5, 0, 0, 0], [3, 4, 1, 3, 0, 0]]
    got = run_litert(str(output), inputs)["probabilities"]
    _close(got, model.predict(texts, verbose=0), atol=1e-4)  # the backbone's sigmoid
