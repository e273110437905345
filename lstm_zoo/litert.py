"""LiteRT (TensorFlow Lite) export with builtin ops only, for every cell and every factory.

Keras 3 models do not convert as they are: `keras.layers.RNN` runs a `tf.while_loop` over a
TensorArray of unknown element shape, which the converter cannot lower to builtin ops
("'tf.TensorListReserve' op requires element_shape to be static"), and the zoo layers run an
XLA-compiled custom loop. `export_litert` rebuilds the model's graph at a fixed batch and a
fixed (maximum) sequence length, every layer shared with the Keras model (same weights), and
replaces each recurrent layer by one of three loops that convert to builtin ops:

- `"fused"`: TFLite's own UNIDIRECTIONAL_SEQUENCE_LSTM kernel, for the LSTM layers whose weights
  are Keras's LSTM layout with sigmoid/tanh (`keras.layers.LSTM`, `lstm_zoo.layers.LSTM`; the
  converter recognises a `tf.function` marked `api_implements="lstm_..."`, as it does for
  tf.keras 2's LSTM). The fused kernel has no mask input; masks are applied around it exactly:
  each row's real steps are gathered to the front (a 0/1 matmul), run, and spread back, a
  masked step carrying the previous output as `keras.layers.RNN` does.
- `"while"`: a WHILE loop whose body is one call of the layer's cell,
  `layer.cell(x_t, states, training=False)` (the public Keras cell API, so every registered
  cell, Keras's LSTMCell and GRUCell included, exports without the exporter knowing its
  equations).
- `"unroll"`: the same cell call written out once per step (a larger file, no loop overhead).

Masks follow `keras.layers.RNN`: a masked step keeps the states and outputs the previous output
(zeros with `zero_output_for_mask`, as `Bidirectional` sets for sequences); `go_backwards`,
`Bidirectional` (Keras's and `lstm_zoo.layers.Bidirectional`), stacked layers and
`return_state` are covered. Shorter sequences are padded with id 0 up to the exported length,
which the embedding masks, so one file serves every length up to it.

Other layers of the factories convert as they are (embedding, dropout, dense, masked pooling,
the tied output embedding); the character encoder of the tagger is rewritten over all words at
once (padding words give zero features, as in Keras), and the CRF's Viterbi decoding is written
out step by step with builtin ops.

Example:

>>> model = lstm_zoo.models.sentiment_classifier(vocab_size=12, cell="peephole", units=4)
>>> info = export_litert(model, "classifier.tflite", sequence_length=16, vocabulary=words)
>>> info.ops                      # e.g. ('FULLY_CONNECTED', 'GATHER', ..., 'WHILE')
>>> run_litert("classifier.tflite", {"tokens": ids})["probabilities"]
"""

from __future__ import annotations

import dataclasses
import json
import os
import uuid

import keras
import numpy as np
import tensorflow as tf

from lstm_zoo.kernels.loader import with_xla_loops
from lstm_zoo.text.tokenizer import check_level, normalize_tokens, tokenize

QUANTIZATIONS = ("float32", "dynamic_int8", "float16")
RECURRENCES = ("auto", "fused", "while", "unroll")

# Measured in benchmarks/litert_latency.py (RESULTS.md, "LiteRT export"): per sequence in the
# interpreter, one thread.
AUTO_UNROLL_MAX_STEPS = 32
# Registry names whose layers have Keras's LSTM equations and weight layout.
_FUSABLE_NAMES = ("lstm", "zoo_lstm", "peephole", "coupled")


@dataclasses.dataclass(frozen=True)
class LiteRTExport:
    """What `export_litert` wrote.

    Attributes:
        path: str. The .tflite file.
        metadata_path: str. The JSON beside it (vocabulary, labels, shapes, inputs, outputs).
        inputs: dict name -> (shape, dtype) of the model's inputs.
        outputs: tuple of output names.
        ops: tuple of the builtin op names in the file (every subgraph).
        recurrences: dict layer name -> the loop it was exported with.
        size_bytes: int.
    """

    path: str
    metadata_path: str
    inputs: dict
    outputs: tuple
    ops: tuple
    recurrences: dict
    size_bytes: int


@with_xla_loops
def export_litert(
    model,
    path,
    *,
    sequence_length,
    batch_size=1,
    char_length=None,
    quantization="float32",
    recurrence="auto",
    vocabulary=None,
    characters=None,
    labels=None,
    lowercase=False,
    level="word",
    overwrite=False,
):
    """Write `model` as a .tflite file with builtin ops only, and its vocabulary beside it.

    Args:
        model: keras.Model. A functional model (every factory of `lstm_zoo.models`), whose
            integer or float inputs have a free batch and time axis.
        path: str. The .tflite file to write; `<path without .tflite>.json` gets the metadata
            (vocabulary, characters, labels, lowercase, shapes, input and output names).
        sequence_length: int. Time steps of the exported input (shorter sequences: pad with
            id 0, which the embedding masks).
        batch_size: int. Rows of the exported input.
        char_length: int. Characters per word, for models with a "characters" input.
        quantization: "float32", "dynamic_int8" (int8 weights, float activations) or
            "float16" (float16 weights).
        recurrence: "auto" (fused LSTM kernel where the layer allows it, else an unrolled
            graph up to 32 steps, else a WHILE loop), "fused" (fused where it can, WHILE
            elsewhere), "while" or "unroll".
        vocabulary: list of str or None. Token ids -> tokens, written to the metadata.
        characters: list of str or None. The character vocabulary of a character tagger.
        labels: list of str or None. Class or tag names.
        lowercase: bool. Whether texts are lowercased before the lookup.
        level: the tokenization level of `lstm_zoo.text` ("word", "word_punct" or "char"),
            recorded in the metadata for `encode_for_litert`.
        overwrite: bool. Replace an existing file (and its metadata); without it an existing
            file is refused. Both files are written beside the target and renamed into place
            once complete, so an interrupted export leaves the old files whole.

    Returns:
        A `LiteRTExport`.

    Raises:
        ValueError: a bad argument (the message names it and its allowed values), a model
            that is not functional, or a layer that cannot be expressed with builtin ops (the
            message names it).
        FileExistsError: `path` or its metadata file exists and `overwrite` is False.
    """
    _check_export_arguments(
        path, sequence_length, batch_size, char_length, quantization, recurrence, level, overwrite
    )
    rebuilt, recurrences = litert_graph(
        model, sequence_length, batch_size, char_length, recurrence=recurrence
    )
    _PENDING_FUSED_OPS.clear()
    function, input_names, output_names = _serving_function(rebuilt)
    pending = _dedupe_pending(_PENDING_FUSED_OPS)
    _PENDING_FUSED_OPS.clear()
    content = _convert(model, function, quantization)
    ops = op_names(content)
    if "UNIDIRECTIONAL_SEQUENCE_LSTM" in ops:
        content = _complete_fused_ops(content, pending)
    flex = [op for op in ops if op.startswith("Flex") or op == "CUSTOM"]
    if flex:
        raise ValueError(f"{model.name}: the converted model needs non-builtin ops {flex}")

    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    inputs = {
        name: (list(tensor.shape), str(tensor.dtype))
        for name, tensor in zip(input_names, tf.nest.flatten(rebuilt.input))
    }
    metadata = {
        "format": "lstm_zoo litert v1",
        "model": model.name,
        "batch_size": batch_size,
        "sequence_length": sequence_length,
        "char_length": char_length,
        "quantization": quantization,
        "inputs": inputs,
        "outputs": list(output_names),
        "padding_id": 0,
        "lowercase": bool(lowercase),
        "level": level,
        "vocabulary": None if vocabulary is None else [str(t) for t in vocabulary],
        "characters": None if characters is None else [str(c) for c in characters],
        "labels": None if labels is None else [str(label) for label in labels],
        "recurrences": recurrences,
    }
    metadata_path = metadata_path_for(path)
    _write_atomically(path, content)
    _write_atomically(
        metadata_path, json.dumps(metadata, ensure_ascii=False, indent=1).encode("utf-8")
    )
    return LiteRTExport(
        path=str(path),
        metadata_path=metadata_path,
        inputs=inputs,
        outputs=tuple(output_names),
        ops=ops,
        recurrences=recurrences,
        size_bytes=len(content),
    )


def _check_export_arguments(
    path, sequence_length, batch_size, char_length, quantization, recurrence, level, overwrite
):
    """ValueError naming a bad argument of `export_litert` and its allowed values;
    FileExistsError for an existing target without `overwrite`."""
    _check_int("sequence_length", sequence_length, 1, 100_000)
    _check_int("batch_size", batch_size, 1, 100_000)
    if char_length is not None:
        _check_int("char_length", char_length, 1, 10_000)
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; got {quantization!r}")
    if recurrence not in RECURRENCES:
        raise ValueError(f"recurrence must be one of {RECURRENCES}; got {recurrence!r}")
    check_level(level)
    if not str(path).endswith(".tflite"):
        raise ValueError(f"path must end with .tflite; got {path!r}")
    if not overwrite:
        for existing in (path, metadata_path_for(path)):
            if os.path.exists(existing):
                raise FileExistsError(
                    f"{existing} exists; pass overwrite=True (CLI: --overwrite) to replace it"
                )


def _convert(model, function, quantization):
    """The .tflite bytes of the serving function, builtin ops only, quantized as asked."""
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], _VariableHolder(model))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    converter.experimental_enable_resource_variables = False
    if quantization != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    try:
        content = converter.convert()
    except Exception as error:  # the converter raises ConverterError and others
        raise ValueError(
            f"{model.name}: the LiteRT converter failed with builtin ops only: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}"
        ) from error
    return content


def _write_atomically(path, content):
    """Write bytes to a temporary file beside `path`, then rename it onto `path`."""
    temporary = f"{path}.partial-{os.getpid()}"
    try:
        with open(temporary, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def _complete_fused_ops(content, pending):
    """Finish the fused LSTM ops of a converted model (bytes -> bytes).

    Every UNIDIRECTIONAL_SEQUENCE_LSTM gets cell_clip 0 (the converter's Keras-LSTM rule
    writes 10, which clips |c| to 10 where Keras does not clip). The ops of `pending` (peephole
    and CIFG layers, found by their input-to-forget weights, which may be float32, float16 or
    int8) get their peephole weights (operands 9-11) or lose their input gate (operands 1, 5,
    12).
    """
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    fused = schema.BuiltinOperator.UNIDIRECTIONAL_SEQUENCE_LSTM
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    pending = list(pending)
    removals = {}
    for subgraph in model.subgraphs:
        producers = {out: op for op in subgraph.operators for out in op.outputs}
        removed = removals.setdefault(id(subgraph), (subgraph, set()))[1]
        for operator in subgraph.operators:
            if codes[operator.opcodeIndex] != fused:
                continue
            if operator.builtinOptions is not None:
                operator.builtinOptions.cellClip = 0.0
            if not pending:
                continue
            weights = _constant_value(model, subgraph, producers, codes, operator.inputs[2])
            match = _closest(pending, weights)
            if match is None:
                continue
            pending.remove(match)
            inputs = list(operator.inputs)
            if match["variant"] == "cifg":
                removed.update(inputs[i] for i in (1, 5, 12))
                inputs[1] = inputs[5] = inputs[12] = -1
            else:
                like = subgraph.tensors[inputs[2]]
                for slot, values in zip((9, 10, 11), match["peepholes"]):
                    inputs[slot] = _add_vector(model, subgraph, like, values, match, slot)
            operator.inputs = np.asarray(inputs, dtype=np.int32)
    _drop_unused_constants(model, removals.values())
    if pending:
        names = [p["layer"] for p in pending]
        raise ValueError(f"could not find the fused LSTM ops of the layers {names}")
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def _drop_unused_constants(model, removals):
    """Empty the buffers of the CIFG ops' former input-gate constants that nothing reads."""
    used_buffers = set()
    for subgraph in model.subgraphs:
        used = {i for op in subgraph.operators for i in list(op.inputs) + list(op.outputs)}
        used.update(subgraph.inputs)
        used.update(subgraph.outputs)
        used_buffers.update(t.buffer for i, t in enumerate(subgraph.tensors) if i in used)
    for subgraph, candidates in removals:
        for index in candidates:
            buffer = subgraph.tensors[index].buffer
            if buffer > 0 and buffer not in used_buffers:
                model.buffers[buffer].data = None


def _constant_value(model, subgraph, producers, codes, index):
    """A constant operand's float value, through a DEQUANTIZE (float16 weights) or an int8
    scale (dynamic-range weights); None if it is not a constant."""
    from tensorflow.lite.python import schema_py_generated as schema

    tensor = subgraph.tensors[index]
    producer = producers.get(index)
    if producer is not None:
        if codes[producer.opcodeIndex] != schema.BuiltinOperator.DEQUANTIZE:
            return None
        return _constant_value(model, subgraph, producers, codes, producer.inputs[0])
    data = model.buffers[tensor.buffer].data
    if data is None or len(data) == 0:
        return None
    raw = np.asarray(data, dtype=np.uint8).tobytes()
    shape = list(tensor.shape)
    if tensor.type == schema.TensorType.FLOAT32:
        return np.frombuffer(raw, np.float32).reshape(shape)
    if tensor.type == schema.TensorType.FLOAT16:
        return np.frombuffer(raw, np.float16).astype(np.float32).reshape(shape)
    if tensor.type == schema.TensorType.INT8 and tensor.quantization is not None:
        scale = np.asarray(tensor.quantization.scale, np.float32)
        values = np.frombuffer(raw, np.int8).astype(np.float32).reshape(shape)
        return values * (scale[:, None] if scale.size == shape[0] else scale)
    return None


def _closest(pending, weights):
    if weights is None:
        return None
    best, best_error = None, None
    for candidate in pending:
        expected = candidate["forget_weights"]
        if expected.shape != weights.shape:
            continue
        error = float(np.max(np.abs(expected - weights)))
        if error <= 0.02 * float(np.max(np.abs(expected))) + 1e-6 and (
            best_error is None or error < best_error
        ):
            best, best_error = candidate, error
    return best


def _add_vector(model, subgraph, like, values, match, slot):
    """Append a constant [units] tensor of the type of `like` (float32; int8 with a scale for
    the hybrid kernel of dynamic-range models) and return its index."""
    from tensorflow.lite.python import schema_py_generated as schema

    values = np.asarray(values, np.float32)
    tensor = schema.TensorT()
    tensor.shape = np.asarray([values.size], np.int32)
    tensor.name = f"{match['layer']}/peephole_{slot}".encode()
    buffer = schema.BufferT()
    if like.type == schema.TensorType.INT8:
        scale = max(float(np.max(np.abs(values))), 1e-12) / 127.0
        quantized = np.clip(np.round(values / scale), -127, 127).astype(np.int8)
        tensor.type = schema.TensorType.INT8
        tensor.quantization = schema.QuantizationParametersT()
        tensor.quantization.scale = [scale]
        tensor.quantization.zeroPoint = [0]
        buffer.data = np.frombuffer(quantized.tobytes(), np.uint8)
    else:
        tensor.type = schema.TensorType.FLOAT32
        buffer.data = np.frombuffer(values.tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor.buffer = len(model.buffers) - 1
    subgraph.tensors.append(tensor)
    return len(subgraph.tensors) - 1


def metadata_path_for(path):
    """`model.tflite` -> `model.json`, the metadata `export_litert` writes beside the file."""
    return str(path)[: -len(".tflite")] + ".json"


def _dedupe_pending(pending):
    """One entry per layer (a layer's call may be traced more than once)."""
    seen, unique = set(), []
    for entry in pending:
        key = (entry["layer"], entry["forget_weights"].tobytes())
        if key not in seen:
            seen.add(key)
            unique.append(entry)
    return unique


def _check_int(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer in [{low}, {high}]; got {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in [{low}, {high}]; got {value}")


class _VariableHolder(tf.Module):
    """Hands the converter the model's variables so that it freezes them into constants."""

    def __init__(self, model):
        super().__init__()
        self.held = [w.value for w in model.weights]


def _serving_function(rebuilt):
    inputs = tf.nest.flatten(rebuilt.input)
    input_names = [_input_name(t) for t in inputs]
    specs = [tf.TensorSpec(t.shape, t.dtype, name=n) for t, n in zip(inputs, input_names)]
    outputs = rebuilt.outputs
    if isinstance(rebuilt.output, dict):
        output_names = list(rebuilt.output)
    else:
        output_names = []
        for tensor in outputs:
            name = _output_name(tensor)
            while name in output_names:
                name = f"{name}_{len(output_names)}"
            output_names.append(name)

    def serve(*args):
        structure = tf.nest.pack_sequence_as(rebuilt.input, list(args))
        result = rebuilt(structure, training=False)
        if isinstance(result, dict):
            return {name: result[name] for name in output_names}
        return dict(zip(output_names, tf.nest.flatten(result)))

    function = tf.function(serve, input_signature=specs, autograph=False)
    return function.get_concrete_function(), input_names, output_names


def _input_name(tensor):
    name = getattr(tensor, "name", None) or "input"
    return name.split(":")[0]


def _output_name(tensor):
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return "output"
    layer = history[0]
    if isinstance(layer, keras.layers.Embedding):  # the tied output embedding
        return "logits"
    return layer.name


# ------------------------------------------------------------------------------------------
# The rebuilt graph.


def litert_graph(model, sequence_length, batch_size=1, char_length=None, recurrence="auto"):
    """`model` rebuilt at a fixed input shape with convertible recurrent loops.

    Every layer is shared with `model` (same weights); recurrent layers, `Bidirectional`, the
    character encoder and the CRF are wrapped in layers that compute the same with builtin
    ops. Returns (the rebuilt keras.Model, {layer name: loop used}).
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "_run_through_graph"):
        raise ValueError(
            f"export_litert needs a functional keras.Model (every factory builds one); got "
            f"{type(model).__name__}"
        )
    try:
        model.inputs  # noqa: B018 - raises for subclassed models without a graph
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"{model.name}: export_litert needs a functional model with Input layers"
        ) from error
    if model.inputs is None:
        raise ValueError(f"{model.name}: export_litert needs a functional model with Inputs")

    fixed = {}
    for tensor in tf.nest.flatten(model.input):
        shape = list(tensor.shape)
        sizes = [batch_size, sequence_length, char_length]
        for axis, dim in enumerate(shape):
            if axis >= len(sizes):
                if dim is None:
                    raise ValueError(
                        f"input {tensor.name!r} has an unknown axis {axis}; give it a size"
                    )
                continue
            if dim is None:
                if sizes[axis] is None:
                    raise ValueError(
                        f"input {tensor.name!r} has characters per word of unknown length; "
                        "pass char_length"
                    )
                shape[axis] = sizes[axis]
            elif axis == 1 and dim != sequence_length:
                raise ValueError(
                    f"input {tensor.name!r} has a fixed length of {dim} steps; pass "
                    f"sequence_length={dim}"
                )
            elif axis == 0 and dim != batch_size:
                raise ValueError(
                    f"input {tensor.name!r} has a fixed batch of {dim}; pass batch_size={dim}"
                )
        fixed[id(tensor)] = keras.Input(
            batch_shape=tuple(shape), dtype=tensor.dtype, name=_input_name(tensor)
        )
    input_tensors = tf.nest.map_structure(lambda t: fixed[id(t)], model.input)

    recurrences = {}

    lengths = {"sequence": sequence_length, "chars": char_length}

    def replace(layer):
        return _replacement(layer, recurrence, lengths, recurrences)

    rebuilt = keras.models.clone_model(
        model, input_tensors=input_tensors, clone_function=replace, recursive=True
    )
    return rebuilt, recurrences


def _replacement(layer, recurrence, lengths, recurrences):
    from lstm_zoo.layers.characters import CharacterEncoder
    from lstm_zoo.layers.crf import CRF

    if isinstance(layer, keras.layers.Bidirectional):
        wrapper = _LiteRTBidirectional(layer, recurrence)
    elif isinstance(layer, keras.layers.RNN):
        wrapper = _LiteRTRNN(layer, recurrence)
    elif isinstance(layer, CharacterEncoder):
        wrapper = _LiteRTCharacterEncoder(layer, recurrence)
    elif isinstance(layer, CRF):
        return _LiteRTCRF(layer)
    else:
        inner = _recurrent_sublayers(layer)
        if inner and not isinstance(layer, keras.Model):
            raise ValueError(
                f"layer {layer.name!r} ({type(layer).__name__}) runs the recurrent layers "
                f"{[sub.name for sub in inner]} inside its own call, which export_litert "
                "cannot rewrite; build the model from the recurrent layers directly"
            )
        return layer
    recurrences.update(wrapper.recurrences(lengths))
    return wrapper


def _recurrent_sublayers(layer):
    found = []
    for sub in getattr(layer, "_flatten_layers", lambda **_: [])(include_self=False):
        if isinstance(sub, (keras.layers.RNN, keras.layers.Bidirectional)):
            found.append(sub)
    return found


def _choose(layer, recurrence, steps):
    """The loop a recurrent layer gets: fused where it fits and was asked for, else while or
    unroll."""
    if recurrence in ("auto", "fused") and _fusable(layer):
        return "fused"
    if recurrence == "unroll" or (recurrence == "auto" and steps <= AUTO_UNROLL_MAX_STEPS):
        return "unroll"
    return "while"


def _fusable(layer):
    """Whether TFLite's UNIDIRECTIONAL_SEQUENCE_LSTM computes `layer` exactly: an LSTM layer
    with Keras's weight layout, sigmoid gates, tanh cell and output, and no state outputs (the
    fused op does not return its final cell state).

    The layer-normalised LSTM is not fusable although the op has layer-norm operands: TFLite
    computes gate_k = act(g_k * normalize(x W_k + h U_k [+ p_k c]) + b_k), one normalisation
    per gate of the *sum*, with a gain and no shift, and no normalisation of c_t; Ba et al.'s
    cell (and Addons') normalises xW and hU *separately* over all four gates, with gain and
    shift each, and normalises c_t before the output tanh. No setting of the op's operands
    gives that function, so the layer gets the WHILE or unrolled loop."""
    return _fused_variant(layer) is not None


def _fused_variant(layer):
    """ "plain" (keras LSTM, zoo_lstm: blocks i, f, c, o), "peephole" (plus the three diagonal
    peephole weights) or "cifg" (coupled: blocks i, c, o, f = 1 - i), or None."""
    from lstm_zoo.layers.registry import registry_entries

    classes = {e.factory: e.name for e in registry_entries() if e.name in _FUSABLE_NAMES}
    classes[keras.layers.LSTM] = "lstm"
    name = classes.get(type(layer))
    if name is None or layer.return_state:
        return None
    cell = layer.cell
    try:
        activation = keras.activations.serialize(cell.activation)
        recurrent_activation = keras.activations.serialize(cell.recurrent_activation)
    except (AttributeError, ValueError, TypeError):
        return None
    if _activation_name(activation) != "tanh":
        return None
    if _activation_name(recurrent_activation) != "sigmoid":
        return None
    blocks = 3 if name == "coupled" else 4
    units = cell.units
    kernel = getattr(cell, "kernel", None)
    recurrent_kernel = getattr(cell, "recurrent_kernel", None)
    if kernel is None or recurrent_kernel is None:
        return None
    if tuple(kernel.shape)[1:] != (blocks * units,):
        return None
    if tuple(recurrent_kernel.shape) != (units, blocks * units):
        return None
    bias = getattr(cell, "bias", None) if getattr(cell, "use_bias", True) else None
    if bias is not None and tuple(bias.shape) != (blocks * units,):
        return None
    if name == "peephole":
        names = [f"{g}_gate_peephole_weights" for g in ("input", "forget", "output")]
        if not all(tuple(getattr(cell, n, np.zeros(0)).shape) == (units,) for n in names):
            return None
        return "peephole"
    return "cifg" if name == "coupled" else "plain"


def _activation_name(serialized):
    if isinstance(serialized, dict):
        serialized = serialized.get("config", serialized.get("class_name"))
    return str(serialized).split(">")[-1]


class _LiteRTRNN(keras.layers.Layer):
    """A `keras.layers.RNN` (any cell) as a builtin-op loop; the same outputs and masks."""

    def __init__(self, layer, recurrence, **kwargs):
        super().__init__(name=f"litert_{layer.name}", **kwargs)
        self.rnn = layer
        self.recurrence = recurrence
        self.supports_masking = True
        self.loop = None

    def recurrences(self, lengths):
        self.loop = _choose(self.rnn, self.recurrence, lengths["sequence"])
        return {self.rnn.name: self.loop}

    def call(self, sequences, initial_state=None, mask=None, training=None):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        output, states = run_recurrent(self.rnn, sequences, mask, self.loop, initial_state)
        if self.rnn.return_state:
            return [output, *states]
        return output

    def compute_mask(self, sequences, mask=None):
        return self.rnn.compute_mask(sequences, mask)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        return self.rnn.compute_output_shape(sequences_shape)


class _LiteRTBidirectional(keras.layers.Layer):
    """`keras.layers.Bidirectional` (or the zoo's) over two builtin-op loops."""

    def __init__(self, layer, recurrence, **kwargs):
        super().__init__(name=f"litert_{layer.name}", **kwargs)
        self.bidirectional = layer
        self.recurrence = recurrence
        self.supports_masking = True
        self.loops = None

    def recurrences(self, lengths):
        b = self.bidirectional
        self.loops = (
            _choose(b.forward_layer, self.recurrence, lengths["sequence"]),
            _choose(b.backward_layer, self.recurrence, lengths["sequence"]),
        )
        return {f"{b.name}/forward": self.loops[0], f"{b.name}/backward": self.loops[1]}

    def call(self, sequences, initial_state=None, mask=None, training=None):
        return run_bidirectional(self.bidirectional, sequences, mask, self.loops, initial_state)

    def compute_mask(self, sequences, mask=None):
        return self.bidirectional.compute_mask(sequences, mask)

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        return self.bidirectional.compute_output_shape(sequences_shape)


def run_bidirectional(layer, inputs, mask, loops, initial_state=None):
    """What `keras.layers.Bidirectional.call` returns, with builtin-op loops."""
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    forward_state = backward_state = None
    if initial_state is not None:
        half = len(initial_state) // 2
        forward_state, backward_state = initial_state[:half], initial_state[half:]
    y, states_forward = run_recurrent(layer.forward_layer, inputs, mask, loops[0], forward_state)
    y_rev, states_backward = run_recurrent(
        layer.backward_layer, inputs, mask, loops[1], backward_state
    )
    if layer.return_sequences:
        y_rev = tf.reverse(y_rev, [1])
    mode = layer.merge_mode
    if mode == "concat":
        output = tf.concat([y, y_rev], axis=-1)
    elif mode == "sum":
        output = y + y_rev
    elif mode == "ave":
        output = (y + y_rev) / 2
    elif mode == "mul":
        output = y * y_rev
    elif mode is None:
        output = [y, y_rev]
    else:
        raise ValueError(f"{layer.name}: unknown merge_mode {mode!r}")
    if layer.return_state:
        states = list(states_forward) + list(states_backward)
        return output + states if mode is None else [output, *states]
    return output


def run_recurrent(layer, inputs, mask, loop, initial_state=None):
    """(output, final states) of `keras.layers.RNN` `layer` on `inputs` [batch, time, features]
    of static shape, with `loop` in ("fused", "while", "unroll")."""
    inputs = tf.convert_to_tensor(inputs)
    batch, steps = inputs.shape[0], inputs.shape[1]
    if batch is None or steps is None:
        raise ValueError(f"{layer.name}: export_litert needs a static batch and length")
    if mask is not None:
        mask = tf.cast(mask, tf.bool)
    if loop == "fused" and initial_state is None:
        return _fused_lstm(layer, inputs, mask)
    cell = layer.cell
    if initial_state is None:
        states = layer.get_initial_state(batch)  # zeros (a stateful layer starts at zero too)
    else:
        states = (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        )
    if not keras.tree.is_nested(states):
        states = [states]
    states = keras.tree.map_structure(lambda s: tf.convert_to_tensor(s, inputs.dtype), states)
    output_shape = layer.compute_output_shape(tuple(inputs.shape))
    if layer.return_state:
        output_shape = output_shape[0]
    units = output_shape[-1]
    zeros = tf.zeros([batch, units], inputs.dtype)
    sequence = tf.reverse(inputs, [1]) if layer.go_backwards else inputs
    step_mask = None
    if mask is not None:
        step_mask = tf.reverse(mask, [1]) if layer.go_backwards else mask
    zero_output = bool(getattr(layer, "zero_output_for_mask", False))

    def step(x_t, m_t, previous, states):
        output, new_states = cell(x_t, states, training=False)
        if not keras.tree.is_nested(new_states):
            new_states = [new_states]
        if m_t is not None:
            keep = m_t[:, None]
            output = tf.where(keep, output, zeros if zero_output else previous)
            new_states = keras.tree.map_structure(
                lambda new, old: tf.where(keep, new, old), list(new_states), list(states)
            )
        return output, list(new_states)

    if loop == "unroll" or steps == 1:
        outputs, previous = [], zeros
        for t in range(steps):
            m_t = None if step_mask is None else step_mask[:, t]
            previous, states = step(sequence[:, t], m_t, previous, states)
            outputs.append(previous)
        outputs = tf.stack(outputs, axis=1)
    else:
        flat = keras.tree.flatten(states)
        time_major = tf.transpose(sequence, [1, 0, 2])
        time_mask = None if step_mask is None else tf.transpose(step_mask, [1, 0])
        array = tf.TensorArray(inputs.dtype, size=steps, element_shape=[batch, units])

        states_structure = states

        def body(t, array, previous, *flat_states):
            states = keras.tree.pack_sequence_as(states_structure, list(flat_states))
            m_t = None if time_mask is None else time_mask[t]
            output, new_states = step(time_major[t], m_t, previous, states)
            return (t + 1, array.write(t, output), output, *keras.tree.flatten(new_states))

        result = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            (tf.constant(0), array, zeros, *flat),
            maximum_iterations=steps,
        )
        outputs = tf.transpose(result[1].stack(), [1, 0, 2])
        states = keras.tree.pack_sequence_as(states_structure, list(result[3:]))
    last = outputs[:, -1]
    output = outputs if layer.return_sequences else last
    return output, list(states)


# The converter replaces a function marked like tf.keras 2's CPU LSTM by
# UNIDIRECTIONAL_SEQUENCE_LSTM (TensorFlow's MLIR pass prepare-composite-functions, Keras LSTM
# rule): arguments (inputs, init_h, init_c, kernel, recurrent_kernel, bias), five results
# (last output, outputs, h, c, runtime), attributes time_major and go_backwards. Its body only
# runs in TensorFlow (and must compute the same): a plain LSTM over all steps.
def _lstm_reference(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
    h, c = init_h, init_c
    projected = tf.einsum("btd,dk->btk", inputs, kernel) + bias
    outputs = []
    for t in range(inputs.shape[1]):
        z = projected[:, t] + tf.matmul(h, recurrent_kernel)
        i, f, g, o = tf.split(z, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        h = tf.sigmoid(o) * tf.tanh(c)
        outputs.append(h)
    sequence = tf.stack(outputs, axis=1)
    return sequence[:, -1], sequence, h, c, tf.constant(0.0)


# Fused ops whose peephole or CIFG operands are set after conversion, filled while the
# serving function is traced (`export_litert` clears it first).
_PENDING_FUSED_OPS = []


def _fused_function():
    return tf.function(
        _lstm_reference,
        experimental_attributes={
            "api_implements": f"lstm_{uuid.uuid4().hex}",
            "time_major": False,
            "go_backwards": False,
        },
        autograph=False,
    )


def _fused_lstm(layer, inputs, mask):
    """Keras LSTM semantics (masks, go_backwards, zero_output_for_mask) around the fused op.

    With a mask, each row's real steps are moved to the front in order by a 0/1 matrix
    (exact), the fused LSTM runs over them (padding after them cannot reach them), and each
    step t takes the output of the last real step at or before t (zeros before the first one,
    or at every masked step with zero_output_for_mask).

    The converter's rule emits a plain 4-gate LSTM. For the peephole and coupled (CIFG)
    layers the op is completed after conversion (`_complete_fused_ops`): the three peephole
    weights are added; for CIFG the input-gate operands are removed (TFLite then computes
    i = 1 - f) and the forget-gate operands are the negated input-gate weights, since the
    coupled cell's f = 1 - sigma(z_i) = sigma(-z_i) gives TFLite's i = 1 - f = sigma(z_i).
    """
    cell = layer.cell
    batch, steps = inputs.shape[0], inputs.shape[1]
    units = cell.units
    variant = _fused_variant(layer)
    kernel = tf.convert_to_tensor(cell.kernel)
    recurrent_kernel = tf.convert_to_tensor(cell.recurrent_kernel)
    blocks = 3 if variant == "cifg" else 4
    if getattr(cell, "use_bias", True) and getattr(cell, "bias", None) is not None:
        bias = tf.convert_to_tensor(cell.bias)
    else:
        bias = tf.zeros([blocks * units], inputs.dtype)
    if variant == "cifg":  # (i, c, o) -> TFLite's (i, f, c, o) with f's operands = -i's
        kernel, recurrent_kernel, bias = (
            tf.concat([w[..., :units], -w[..., :units], w[..., units:]], axis=-1)
            for w in (kernel, recurrent_kernel, bias)
        )
    if variant in ("peephole", "cifg"):
        with tf.init_scope():  # the weights' values, outside the function being traced
            forget = np.asarray(cell.kernel.numpy())[:, :units]  # i's block for cifg
            if variant == "cifg":
                forget = -forget
            peepholes = None
            if variant == "peephole":
                forget = np.asarray(cell.kernel.numpy())[:, units : 2 * units]
                peepholes = [
                    np.asarray(getattr(cell, f"{g}_gate_peephole_weights").numpy())
                    for g in ("input", "forget", "output")
                ]
        _PENDING_FUSED_OPS.append(
            {
                "layer": layer.name,
                "variant": variant,
                "forget_weights": np.ascontiguousarray(forget.T, np.float32),
                "peepholes": peepholes,
            }
        )
    sequence = tf.reverse(inputs, [1]) if layer.go_backwards else inputs
    zeros = tf.zeros([batch, units], inputs.dtype)
    fused = _fused_function()
    if mask is None:
        outputs = fused(sequence, zeros, zeros, kernel, recurrent_kernel, bias)[1]
    else:
        step_mask = tf.reverse(mask, [1]) if layer.go_backwards else mask
        real = tf.cast(step_mask, tf.int32)
        position = tf.cumsum(real, axis=1) - 1  # [batch, time]: index among the real steps
        slots = tf.range(steps, dtype=tf.int32)
        # gather[b, j, t] = 1 where step t is row b's j-th real step.
        gather = tf.cast(
            tf.logical_and(step_mask[:, None, :], position[:, None, :] == slots[None, :, None]),
            inputs.dtype,
        )
        packed = tf.matmul(gather, sequence)
        packed_outputs = fused(packed, zeros, zeros, kernel, recurrent_kernel, bias)[1]
        seen = position >= 0
        index = tf.maximum(position, 0)
        outputs = tf.gather(packed_outputs, index, batch_dims=1)
        keep = step_mask if getattr(layer, "zero_output_for_mask", False) else seen
        outputs = tf.where(keep[:, :, None], outputs, tf.zeros_like(outputs))
    last = outputs[:, -1]
    output = outputs if layer.return_sequences else last
    return output, [last]


class _LiteRTCharacterEncoder(keras.layers.Layer):
    """`lstm_zoo.layers.characters.CharacterEncoder` over every word of the fixed-shape batch
    (padding words are all-masked and give zero features, as the Keras layer gives them)."""

    def __init__(self, layer, recurrence, **kwargs):
        super().__init__(name=f"litert_{layer.name}", **kwargs)
        self.encoder = layer
        self.recurrence = recurrence
        self.loops = None

    def recurrences(self, lengths):
        bidirectional = self.encoder.encoder
        chars = lengths["chars"]
        self.loops = (
            _choose(bidirectional.forward_layer, self.recurrence, chars),
            _choose(bidirectional.backward_layer, self.recurrence, chars),
        )
        name = f"{self.encoder.name}/{bidirectional.name}"
        return {f"{name}/forward": self.loops[0], f"{name}/backward": self.loops[1]}

    def call(self, characters):
        characters = tf.cast(characters, tf.int32)
        batch, steps, chars = characters.shape
        words = tf.reshape(characters, [batch * steps, chars])
        mask = words != 0
        embedded = self.encoder.embedding(words)
        features = run_bidirectional(self.encoder.encoder, embedded, mask, self.loops)
        has_chars = tf.cast(tf.reduce_any(mask, axis=1, keepdims=True), features.dtype)
        features = features * has_chars
        return tf.reshape(features, [batch, steps, features.shape[-1]])

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return self.encoder.compute_output_shape(input_shape)


class _LiteRTCRF(keras.layers.Layer):
    """The CRF's Viterbi decoding (`lstm_zoo.layers.crf.viterbi_decode`) written out step by
    step at the static length, with builtin ops (the tf.scan of the Keras layer lowers to
    TensorList ops the converter rejects)."""

    def __init__(self, layer, **kwargs):
        super().__init__(name=f"litert_{layer.name}", **kwargs)
        self.crf = layer
        self.supports_masking = True

    def call(self, emissions, mask=None):
        crf = self.crf
        batch, steps, num_tags = emissions.shape
        if mask is None:
            mask = tf.ones([batch, steps], tf.bool)
        mask = tf.cast(mask, tf.bool)
        transitions = tf.convert_to_tensor(crf.transitions)
        score = tf.convert_to_tensor(crf.start)[None, :] + emissions[:, 0]
        identity = tf.broadcast_to(tf.range(num_tags, dtype=tf.int32)[None], [batch, num_tags])
        pointers = []
        for t in range(1, steps):
            candidates = score[:, :, None] + transitions[None]
            best_previous = tf.argmax(candidates, axis=1, output_type=tf.int32)
            new = tf.reduce_max(candidates, axis=1) + emissions[:, t]
            keep = mask[:, t][:, None]
            score = tf.where(keep, new, score)
            pointers.append(tf.where(keep, best_previous, identity))
        final = score + tf.convert_to_tensor(crf.end)[None, :]
        tag = tf.argmax(final, axis=1, output_type=tf.int32)
        path = [tag]
        for pointer in reversed(pointers):
            tag = tf.gather(pointer, tag[:, None], batch_dims=1)[:, 0]
            path.append(tag)
        path = tf.stack(path[::-1], axis=1)
        return tf.where(mask, path, tf.zeros_like(path))

    def compute_mask(self, inputs, mask=None):
        return mask

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:2])

    def compute_output_spec(self, inputs, mask=None):
        return keras.KerasTensor(tuple(inputs.shape[:2]), dtype="int32")


# ------------------------------------------------------------------------------------------
# Reading and running .tflite files.


def op_names(content):
    """The sorted builtin op names used in every subgraph of a .tflite flatbuffer (bytes)."""
    from tensorflow.lite.python import schema_py_generated as schema

    model = schema.Model.GetRootAsModel(bytearray(content), 0)
    names = {value: name for name, value in vars(schema.BuiltinOperator).items() if name.isupper()}
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.CustomCode()
            codes.append(custom.decode() if custom else "CUSTOM")
        else:
            codes.append(names.get(builtin, str(builtin)))
    used = set()
    for s in range(model.SubgraphsLength()):
        subgraph = model.Subgraphs(s)
        for o in range(subgraph.OperatorsLength()):
            used.add(codes[subgraph.Operators(o).OpcodeIndex()])
    return tuple(sorted(used))


def litert_interpreter(path_or_content, num_threads=1, delegates=True):
    """An `ai_edge_litert` interpreter over a .tflite file (or its bytes), tensors allocated.

    Raises:
        ImportError: ai-edge-litert is not installed (`pip install ai-edge-litert`).
    """
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "running LiteRT models needs the ai-edge-litert package: pip install ai-edge-litert"
        ) from error
    kwargs = {"num_threads": num_threads}
    if not delegates:
        kwargs["experimental_op_resolver_type"] = OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    if isinstance(path_or_content, (bytes, bytearray)):
        interpreter = Interpreter(model_content=bytes(path_or_content), **kwargs)
    else:
        interpreter = Interpreter(model_path=str(path_or_content), **kwargs)
    interpreter.allocate_tensors()
    return interpreter


def run_litert(path_or_interpreter, inputs, num_threads=1):
    """Run a file written by `export_litert`: {input name: array} -> {output name: array}.

    A single array is taken as the only input.
    """
    interpreter = path_or_interpreter
    if not hasattr(interpreter, "get_signature_runner"):
        interpreter = litert_interpreter(path_or_interpreter, num_threads=num_threads)
    runner = interpreter.get_signature_runner()
    names = list(runner.get_input_details())
    if not isinstance(inputs, dict):
        if len(names) != 1:
            raise ValueError(f"the model takes the inputs {names}; pass a dict")
        inputs = {names[0]: inputs}
    details = runner.get_input_details()
    feed = {}
    for name in names:
        if name not in inputs:
            raise ValueError(f"missing input {name!r}; the model takes {names}")
        value = np.asarray(inputs[name], dtype=details[name]["dtype"])
        if tuple(value.shape) != tuple(details[name]["shape"]):
            raise ValueError(
                f"input {name!r} must have shape {tuple(details[name]['shape'])}; got "
                f"{tuple(value.shape)} (pad with 0 to the exported length and batch)"
            )
        feed[name] = value
    return runner(**feed)


def encode_for_litert(texts, metadata):
    """Tokenize `texts` by the rule of `lstm_zoo.text` (the metadata's level and lowercase,
    as the task models and the SavedModel exports do), look the tokens up in the metadata's
    vocabulary and pad to the exported shape: -> {"tokens": int32 [batch_size,
    sequence_length]} (and "characters" for a character tagger, from the words as written).
    Unknown words map to "<oov>" or "<unk>" when the vocabulary has one.

    Raises:
        ValueError: more texts than the exported batch, a text longer than the exported
            length, or an unknown word without an unknown token.
    """
    if isinstance(metadata, str):
        with open(metadata, encoding="utf-8") as file:
            metadata = json.load(file)
    vocabulary = metadata["vocabulary"]
    if vocabulary is None:
        raise ValueError("the export has no vocabulary (pass vocabulary= to export_litert)")
    index = {token: i for i, token in enumerate(vocabulary)}
    unknown = next((index[u] for u in ("<oov>", "<unk>") if u in index), None)
    batch, length = metadata["batch_size"], metadata["sequence_length"]
    if len(texts) > batch:
        raise ValueError(f"{len(texts)} texts but the model was exported for batch {batch}")
    tokens = np.zeros([batch, length], np.int32)
    words_of = []
    for row, text in enumerate(texts):
        level = metadata.get("level") or "word"
        raw = tokenize(text, False, level)
        words = normalize_tokens(raw, bool(metadata.get("lowercase")))
        if len(words) > length:
            raise ValueError(f"text {row} has {len(words)} tokens; the export takes {length}")
        for col, word in enumerate(words):
            if word not in index and unknown is None:
                raise ValueError(f"unknown token {word!r} and no unknown token in the vocabulary")
            tokens[row, col] = index.get(word, unknown)
        words_of.append(raw)  # characters come from the words as written
    result = {"tokens": tokens}
    if "characters" in metadata["inputs"]:
        characters = metadata["characters"]
        char_index = {c: i for i, c in enumerate(characters)}
        chars = metadata["char_length"]
        array = np.zeros([batch, length, chars], np.int32)
        for row, words in enumerate(words_of):
            for col, word in enumerate(words):
                if len(word) > chars:
                    raise ValueError(
                        f"text {row}, word {col} has {len(word)} characters; the export takes "
                        f"{chars} (char_length)"
                    )
                for k, char in enumerate(word):
                    array[row, col, k] = char_index.get(char, 1)
        result["characters"] = array
    return result
