"""The `lstm-zoo` command line: train, evaluate, generate, export, bench, cells, inspect, demo.

Each command's work lives in a library module (tasks, runs, generation, export, bench, plots,
demo); this file only parses arguments. Bad arguments and missing files print one line
`lstm-zoo COMMAND: error: ...` and exit with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from lstm_zoo.runs import TASKS


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument prints one line `PROG: error: ...` (no usage block)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _int_in(low, high=None):
    """An argparse type: an int in [low, high] (high None: no upper bound)."""
    allowed = f"in [{low}, {high}]" if high is not None else f">= {low}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be an integer {allowed}; got {text!r}"
            ) from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be an integer {allowed}; got {value}")
        return value

    return parse


def _float_in(low, high=None, low_open=True):
    """An argparse type: a finite float in (low, high] ([low, high] with low_open=False)."""
    allowed = ("(" if low_open else "[") + f"{low}, " + (f"{high}]" if high is not None else "inf)")

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be a number in {allowed}; got {text!r}"
            ) from None
        too_low = value <= low if low_open else value < low
        if not math.isfinite(value) or too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a number in {allowed}; got {text}")
        return value

    return parse


def _nonempty(text):
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


_SEED = _int_in(0, 2**32 - 1)


def _presets(args):
    from lstm_zoo.presets import preset_lines

    for line in preset_lines():
        print(line)
    return 0


def _cells(args):
    from lstm_zoo.layers.registry import registry_entries

    rows = [("name", "class", "keras built-in", "description")]
    for entry in registry_entries():
        factory = entry.factory
        cls = f"{factory.__module__}.{getattr(factory, '__qualname__', factory)}"
        rows.append((entry.name, cls, "yes" if entry.builtin else "no", entry.description))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3])
    return 0


def _train(args):
    from dataclasses import fields

    from lstm_zoo.tasks import TrainOptions, train

    if args.from_preset is not None:
        return _finetune(args)
    if args.task is None:
        raise ValueError("give --task (lm, sentiment or tagger) or --from-preset NAME_OR_PATH")
    # Options left unset take TrainOptions' defaults.
    options = {f.name: getattr(args, f.name) for f in fields(TrainOptions)}
    options = {k: v for k, v in options.items() if v is not None}
    verbose = 1 if sys.stdout.isatty() else 2
    run, _, _ = train(
        args.task, output=args.output, verbose=verbose, overwrite=args.overwrite, **options
    )
    if not os.path.isdir(args.output):  # a worker other than the chief writes no run
        print("done (the chief worker writes the run directory)")
        return 0
    print(f"wrote {args.output} (model.keras, checkpoints/, logs/, training_curves.png)")
    _print_final(run.metrics)
    return 0


def _print_final(metrics):
    """One line of the final metrics; per-type span scores are in the tables printed above."""
    from lstm_zoo.span_report import is_per_type

    print("final: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if not is_per_type(k)))


# The train options a preset brings itself: none may come with --from-preset.
_MODEL_FLAGS = {
    "cell": "--cell",
    "preset": "--preset",
    "units": "--units",
    "num_layers": "--layers",
    "bidirectional": "--bidirectional",
    "crf": "--crf",
    "char_features": "--char-features",
    "embeddings_path": "--embeddings",
    "level": "--level",
    "lowercase": "--lowercase",
    "max_vocabulary": "--max-vocabulary",
    "tfds_name": "--tfds",
    "data_dir": "--data-dir",
    "strategy": "--strategy",
    "backup_every": "--backup-every",
}


def _finetune(args):
    from lstm_zoo import preset_commands

    given = [
        flag for name, flag in _MODEL_FLAGS.items() if getattr(args, name) not in (None, False)
    ]
    if given:
        raise ValueError(
            f"--from-preset conflicts with {', '.join(given)}: the preset brings its model, "
            "vocabulary and tokenizer (fine-tuning takes --train, --valid, --test, --epochs, "
            "--batch-size, --learning-rate, --num-steps, --seed, --output, --overwrite)"
        )
    if args.train_path is None:
        raise ValueError("--from-preset needs --train (the training file)")
    name = preset_commands.preset_class_name(args.from_preset)
    task = preset_commands.TASK_OF_CLASS[name]
    if args.task is not None and args.task != task:
        raise ValueError(
            f"--task {args.task} does not match --from-preset {args.from_preset}, a {name} "
            f"(--task {task}); leave --task out: the preset decides it"
        )
    if args.num_steps is not None and not preset_commands.is_char_language_model(args.from_preset):
        raise ValueError(
            f"--num-steps applies to character language models; {args.from_preset} is not one"
        )
    command = "lstm-zoo " + " ".join(sys.argv[1:]) if sys.argv[1:] else None
    _, metrics = preset_commands.finetune_preset(
        args.from_preset,
        args.train_path,
        args.output,
        valid_path=args.valid_path,
        test_path=args.test_path,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        num_steps=args.num_steps,
        seed=args.seed,
        overwrite=args.overwrite,
        verbose=1 if sys.stdout.isatty() else 2,
        command=command,
    )
    print(
        f"wrote the preset {args.output} (config.json, model.weights.h5, metadata.json, "
        "assets/tokenizer/); lstm-zoo evaluate and export read it"
    )
    _print_final(metrics)
    return 0


def _evaluate(args):
    from lstm_zoo.preset_commands import evaluate_preset

    _check_files(args.data, what="DATA")
    evaluate_preset(args.run, args.data)  # a preset or a run directory: one path
    return 0


def _sampler_kwargs(args):
    kwargs = {"temperature": args.temperature}
    if args.sampler == "top_k":
        kwargs["k"] = args.k
    elif args.sampler == "top_p":
        kwargs["p"] = args.p
    elif args.sampler == "beam":
        kwargs = {"num_beams": args.num_beams}
    return kwargs


def _generate(args):
    from lstm_zoo.preset_commands import generate_preset

    texts = generate_preset(
        args.run, args.prompt, args.max_length, args.sampler, args.seed, **_sampler_kwargs(args)
    )
    for text in texts:
        print(text)
    return 0


def _export(args):
    if args.format == "litert":
        return _export_litert(args)
    _check_export_output(args.output, args.overwrite, directory=True)
    samplers = tuple(name.strip() for name in args.samplers.split(","))
    from lstm_zoo.generation import available_samplers

    for name in samplers:
        if name not in available_samplers():
            known = ", ".join(available_samplers())
            raise ValueError(f"--samplers: {name!r} is not a sampler ({known})")
    sampler_options = {
        "top_k": {"k": args.k, "temperature": args.temperature},
        "top_p": {"p": args.p, "temperature": args.temperature},
        "random": {"temperature": args.temperature},
    }
    from lstm_zoo.preset_commands import export_preset

    export_preset(  # a preset or a run directory: one path
        args.run,
        args.output,
        samplers=samplers,
        num_beams=args.num_beams,
        sampler_options=sampler_options,
        overwrite=args.overwrite,
    )
    print(f"wrote the SavedModel {args.output} (signatures: tf.saved_model.load(path).signatures)")
    return 0


_LITERT_LIMITS = {"sequence_length": 100_000, "batch_size": 100_000, "char_length": 10_000}


def _export_litert(args):
    from lstm_zoo.litert import export_litert

    if args.sequence_length is None:
        raise ValueError("--sequence-length is required with --format litert (1 to 100000)")
    for name, high in _LITERT_LIMITS.items():
        value = getattr(args, name)
        if value is not None and not 1 <= value <= high:
            flag = "--" + name.replace("_", "-")
            raise ValueError(f"{flag} must be in [1, {high}]; got {value}")
    if not args.output.endswith(".tflite"):
        raise ValueError(f"OUTPUT must be a .tflite file with --format litert; got {args.output}")
    _check_export_output(args.output, args.overwrite, directory=False)
    from lstm_zoo.preset_commands import load

    model = load(args.run)  # a preset or a run directory
    preprocessor = model.preprocessor
    characters = preprocessor.characters
    if characters and args.char_length is None:
        raise ValueError("--char-length is required: this tagger reads characters (1 to 10000)")
    info = export_litert(
        model.backbone,
        args.output,
        sequence_length=args.sequence_length,
        batch_size=args.batch_size,
        char_length=args.char_length if characters else None,
        quantization=args.quantization,
        recurrence=args.recurrence,
        vocabulary=preprocessor.vocabulary.tokens,
        characters=characters,
        labels=getattr(model, "labels", None) or getattr(model, "tags", None),
        lowercase=preprocessor.lowercase,
        level=preprocessor.level,
        overwrite=args.overwrite,
    )
    loops = ", ".join(sorted(set(info.recurrences.values()))) or "none"
    print(
        f"wrote {info.path} ({info.size_bytes:,} bytes, {args.quantization}, loops: {loops}) "
        f"and {info.metadata_path} (vocabulary, labels, shapes)"
    )
    return 0


def _bench(args):
    from lstm_zoo.bench import Shape, machine_description, markdown_table, throughput
    from lstm_zoo.layers.registry import available_recurrent_layers

    names = args.layers.split(",") if args.layers else available_recurrent_layers()
    shape = Shape(args.batch, args.steps, args.inputs, args.units)
    rows = throughput(names, shape, (False, True) if args.jit else (False,), 3, args.timed, 1)
    machine = machine_description()
    print()
    print(markdown_table(rows))
    print(f"\n{machine['processor']}, {machine['cpus']} cpus, TensorFlow {machine['tensorflow']}")
    return 0


def _inspect(args):
    from lstm_zoo.inspect import write_gate_heatmaps
    from lstm_zoo.preset_commands import load

    model = load(args.run)  # a preset or a run directory
    if model.preprocessor.characters is not None:
        raise ValueError(
            f"{args.run}: inspect reads models over word ids; this tagger also reads characters"
        )
    labels = model.preprocessor.tokenize(args.text)  # the rule of the served model
    if not labels:
        raise ValueError("--text has no tokens")
    ids = model.preprocessor.vocabulary.encode(labels)
    write_gate_heatmaps(model.backbone, args.layer, ids, labels, args.output)
    print(f"wrote {args.output} (gates over {len(labels)} tokens: {' '.join(labels)})")
    return 0


def _demo(args):
    from lstm_zoo.demo import main_demo

    return main_demo(data=args.data, output=args.output, epochs=args.epochs, seed=args.seed)


def _check_files(*paths, what="file"):
    from lstm_zoo.tasks import check_readable_file

    for path in paths:
        check_readable_file(path, what)


def _check_export_output(path, overwrite, directory):
    """Refuse to write over a non-empty directory (or an existing file) unless --overwrite."""
    if os.path.isdir(path):
        if not directory:
            raise ValueError(f"OUTPUT {path}: is a directory; give a .tflite file name")
        if os.listdir(path) and not overwrite:
            raise ValueError(f"OUTPUT {path}: not empty; give --overwrite to replace it")
    elif os.path.exists(path):
        if directory:
            raise ValueError(f"OUTPUT {path}: exists and is not a directory")
        if not overwrite:
            raise ValueError(f"OUTPUT {path}: exists; give --overwrite to replace it")


_RUN_OR_PRESET = (
    "a run directory of lstm-zoo train, a preset directory or a bundled preset name "
    "(lstm-zoo presets)"
)


def _add_train_command(commands):
    """`lstm-zoo train`: data, model and training options."""
    train = commands.add_parser(
        "train",
        help="train a language model, sentiment classifier or tagger (or fine-tune a preset)",
        description="Writes OUTPUT/model.keras, vocabulary.json, run.json, checkpoints/, logs/ "
        "(TensorBoard), history.csv and training_curves.png. With --from-preset: fine-tunes "
        "the preset (its task, vocabulary and encoder) and writes OUTPUT as a preset "
        "(config.json, model.weights.h5, metadata.json, assets/).",
    )
    train.add_argument(
        "--task",
        choices=TASKS,
        help="required unless --from-preset (which decides the task)",
    )
    train.add_argument(
        "--from-preset",
        metavar="NAME_OR_PATH",
        help="fine-tune a preset (a bundled name, lstm-zoo presets, or a preset directory) "
        "on --train and write it as a preset to --output; a new label or tag set gets a new "
        "head over the preset's encoder",
    )
    _add_data_arguments(train)
    _add_model_arguments(train)
    _add_training_arguments(train)
    train.set_defaults(handler=_train)


def _add_data_arguments(train):
    """train: the data files (or a tfds name)."""
    data = train.add_argument_group("data (local files, or --tfds for sentiment)")
    data.add_argument(
        "--train",
        dest="train_path",
        help="lm: text, one sentence a line (PTB); sentiment: 'LABEL text' "
        "lines (SST) or a CSV with review,label (IMDB); tagger: .conllu or CoNLL-2003 columns",
    )
    data.add_argument("--valid", dest="valid_path", help="validation file, same format")
    data.add_argument(
        "--test", dest="test_path", help="test file, same format (evaluated once at the end)"
    )
    data.add_argument(
        "--tfds", dest="tfds_name", help="a tensorflow-datasets name (imdb_reviews, glue/sst2)"
    )
    data.add_argument("--data-dir", help="tfds data_dir holding the prepared dataset")


def _add_model_arguments(train):
    """train: the architecture and vocabulary."""
    model = train.add_argument_group("model")
    model.add_argument("--cell", help="a registry name (lstm-zoo cells; default lstm)")
    model.add_argument(
        "--preset",
        help="lm: ptb-small|ptb-medium|ptb-large (default "
        "ptb-small); sentiment: seed-keras-next-word|seed-torch-lstmnet",
    )
    model.add_argument("--units", type=_int_in(1, 65536), help="1 to 65536")
    model.add_argument(
        "--layers", dest="num_layers", type=_int_in(1, 64), help="recurrent layers (1 to 64)"
    )
    model.add_argument("--bidirectional", action="store_true", help="sentiment: BiRNN")
    model.add_argument("--crf", action="store_true", help="tagger: CRF head")
    model.add_argument(
        "--char-features", action="store_true", help="tagger: character-level word features"
    )
    model.add_argument(
        "--embeddings",
        dest="embeddings_path",
        help="GloVe/word2vec/fastText vectors (sentiment, tagger)",
    )
    model.add_argument("--level", choices=("word", "char"), help="lm tokens (default word)")
    model.add_argument("--lowercase", action="store_true", help="lowercase words (not lm)")
    model.add_argument(
        "--max-vocabulary",
        type=_int_in(3),
        help="keep the most frequent words (>= 3: padding, unknown and one word)",
    )


def _add_training_arguments(train):
    """train: epochs, batches, optimiser, resume, output."""
    fit = train.add_argument_group("training")
    fit.add_argument("--epochs", type=_int_in(1, 100_000), help="default: the preset's (lm) or 3")
    fit.add_argument("--batch-size", type=_int_in(1, 1_000_000))
    fit.add_argument(
        "--num-steps",
        type=_int_in(1, 100_000),
        help="lm: truncated-BPTT window (character presets: characters per window, default 64)",
    )
    fit.add_argument("--learning-rate", type=_float_in(0, 1000), help="in (0, 1000]")
    fit.add_argument("--seed", type=_SEED, default=0)
    fit.add_argument(
        "--strategy",
        choices=("default", "mirrored", "multi-worker"),
        help="tf.distribute: one device, every local device (MirroredStrategy), or the "
        "workers of TF_CONFIG (MultiWorkerMirroredStrategy)",
    )
    fit.add_argument(
        "--backup-every",
        type=_int_in(1),
        help="back up the training state every N steps (default 100; and at each epoch's "
        "end) so that the same command resumes a killed run",
    )
    train.add_argument(
        "--output", default="runs/latest", help="run directory (--from-preset: preset) to write"
    )
    train.add_argument(
        "--overwrite", action="store_true", help="replace OUTPUT (only once the new run is done)"
    )


def _add_evaluate_and_generate_commands(commands):
    """`lstm-zoo evaluate` and `lstm-zoo generate`."""
    evaluate = commands.add_parser(
        "evaluate",
        help="metrics of a trained run or a preset on a data file",
        description="Prints the task's metrics: accuracy and loss (classifier); token accuracy "
        "and, for chunk tags (BIO/IOB1/BIOES), conlleval span precision/recall/F1 overall and "
        "per type (tagger); perplexity, and bits per character at character level (LM).",
    )
    evaluate.add_argument("run", help=_RUN_OR_PRESET)
    evaluate.add_argument(
        "data",
        help="a data file in the task's training format (LABEL text lines or a review,label "
        "CSV; .conllu or CoNLL-2003 columns; plain text)",
    )
    evaluate.set_defaults(handler=_evaluate)

    generate = commands.add_parser(
        "generate", help="generate text with a language model (a run or a preset)"
    )
    generate.add_argument("run", help="a language model: " + _RUN_OR_PRESET)
    generate.add_argument("--prompt", action="append", help="a prompt (repeat for a batch)")
    generate.add_argument(
        "--max-length", type=_int_in(1, 100_000), default=30, help="tokens, prompt included"
    )
    generate.add_argument(
        "--sampler", default="greedy", choices=("greedy", "top_k", "top_p", "random", "beam")
    )
    generate.add_argument("--k", type=_int_in(1), default=10, help="top_k")
    generate.add_argument("--p", type=_float_in(0, 1), default=0.9, help="top_p, in (0, 1]")
    generate.add_argument("--temperature", type=_float_in(0, 1000), default=1.0)
    generate.add_argument("--num-beams", type=_int_in(1, 1000), default=5, help="beam")
    generate.add_argument("--seed", type=_SEED, default=0)
    generate.set_defaults(handler=_generate)


def _add_export_command(commands):
    """`lstm-zoo export`: SavedModel or LiteRT."""
    export = commands.add_parser(
        "export", help="write a SavedModel serving raw strings, or a LiteRT .tflite file"
    )
    export.add_argument("run", help=_RUN_OR_PRESET)
    export.add_argument(
        "output", help="the SavedModel directory to write (litert: the .tflite file)"
    )
    export.add_argument(
        "--format",
        default="savedmodel",
        choices=("savedmodel", "litert"),
        help="savedmodel (default) or litert (builtin ops only, fixed shape, takes ids)",
    )
    export.add_argument(
        "--sequence-length",
        type=_int_in(1, 100_000),
        help="litert: time steps of the input (1 to 100000)",
    )
    export.add_argument(
        "--batch-size",
        type=_int_in(1, 100_000),
        default=1,
        help="litert: rows of the input (1 to 100000)",
    )
    export.add_argument(
        "--char-length",
        type=_int_in(1, 10_000),
        help="litert, character taggers: characters per word",
    )
    export.add_argument(
        "--quantization",
        default="float32",
        choices=("float32", "dynamic_int8", "float16"),
        help="litert: weights in float32, int8 (dynamic range) or float16",
    )
    export.add_argument(
        "--recurrence",
        default="auto",
        choices=("auto", "fused", "while", "unroll"),
        help="litert: the recurrent loop (auto: fused LSTM kernel where it fits)",
    )
    export.add_argument(
        "--samplers", default="greedy,top_k,beam", help="lm: samplers to serve (first = default)"
    )
    export.add_argument("--num-beams", type=_int_in(1, 1000), default=4, help="lm: beam width")
    export.add_argument("--k", type=_int_in(1), default=10, help="lm: top_k's k")
    export.add_argument("--p", type=_float_in(0, 1), default=0.9, help="lm: top_p's p")
    export.add_argument(
        "--temperature", type=_float_in(0, 1000), default=1.0, help="lm: top_k/top_p/random"
    )
    export.add_argument(
        "--overwrite", action="store_true", help="replace a non-empty OUTPUT directory"
    )
    export.set_defaults(handler=_export)


def _add_tool_commands(commands):
    """`lstm-zoo bench`, `inspect` and `demo`."""
    bench = commands.add_parser("bench", help="throughput of the layers vs keras.layers.LSTM")
    bench.add_argument("--layers", help="comma-separated registry names (default: all)")
    bench.add_argument("--batch", type=_int_in(1, 100_000), default=64)
    bench.add_argument("--steps", type=_int_in(1, 100_000), default=64)
    bench.add_argument("--inputs", type=_int_in(1, 65536), default=256)
    bench.add_argument("--units", type=_int_in(1, 65536), default=256)
    bench.add_argument(
        "--timed", type=_int_in(1, 100_000), default=10, help="timed steps per measurement"
    )
    bench.add_argument("--jit", action="store_true", help="also with an outer jit_compile")
    bench.set_defaults(handler=_bench)

    inspect = commands.add_parser("inspect", help="PNG heatmaps of the gates over a text")
    inspect.add_argument("run", help=_RUN_OR_PRESET)
    inspect.add_argument("--text", required=True, type=_nonempty, help="the sentence to run")
    inspect.add_argument("--layer", help="recurrent layer name (default: the first)")
    inspect.add_argument("--output", default="gates.png", help="PNG file to write")
    inspect.set_defaults(handler=_inspect)

    demo = commands.add_parser(
        "demo",
        help="train a word LM on CPython's docs (offline), sample, export, serve",
    )
    demo.add_argument("--data", help="a UTF-8 text file (default: CPython's pydoc topics)")
    demo.add_argument("--output", default="runs/demo", help="where the run and export go")
    demo.add_argument("--epochs", type=_int_in(1, 100_000), default=None, help="training epochs")
    demo.add_argument("--seed", type=_SEED, default=0)
    demo.set_defaults(handler=_demo)


def build_parser():
    parser = _Parser(prog="lstm-zoo", description="LSTM-family models for Keras.")
    commands = parser.add_subparsers(dest="command", required=True)

    cells = commands.add_parser("cells", help="list the registered recurrent layers")
    cells.set_defaults(handler=_cells)

    presets = commands.add_parser(
        "presets", help="list the bundled pretrained presets (name, task, metric, size)"
    )
    presets.set_defaults(handler=_presets)

    _add_train_command(commands)
    _add_evaluate_and_generate_commands(commands)
    _add_export_command(commands)
    _add_tool_commands(commands)
    return parser


def main(argv=None):
    """Run one command; returns the exit status (2: bad arguments or files, one line on stderr)."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # argparse's own errors (already printed) and --help
        return stop.code
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return args.handler(args)
    except (ValueError, OSError) as error:
        message = " ".join(str(error).split())  # one line, whatever the error held
        print(f"lstm-zoo {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"lstm-zoo {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        tf = sys.modules.get("tensorflow")
        lost = tf is not None and isinstance(
            error, (tf.errors.UnavailableError, tf.errors.AbortedError)
        )
        if not lost:
            raise
        reason = " ".join(str(error).split())[:300]
        print(
            f"lstm-zoo {args.command}: error: the cluster lost a worker ({reason}); start the "
            "same command on every worker again to resume from the last backup",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
