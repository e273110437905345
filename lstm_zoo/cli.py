"""The `lstm-zoo` command line."""

from __future__ import annotations

import argparse
import os
import sys


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


def _demo(args):
    from lstm_zoo.demo import format_results, read_corpus, run_demo

    text = read_corpus(args.data) if args.data else None
    layers = args.layers.split(",") if args.layers else None
    results = run_demo(text=text, layers=layers, train_steps=args.steps)
    print()
    print(format_results(results))
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="lstm-zoo", description="LSTM-family models for Keras.")
    commands = parser.add_subparsers(dest="command", required=True)
    cells = commands.add_parser("cells", help="list the registered recurrent layers")
    cells.set_defaults(run=_cells)
    demo = commands.add_parser(
        "demo", help="train a character LM briefly with every registered layer (offline)"
    )
    demo.add_argument("--data", help="a UTF-8 text file (default: CPython's pydoc topics)")
    demo.add_argument("--layers", help="comma-separated registry names (default: all)")
    demo.add_argument("--steps", type=int, default=120, help="training steps per layer")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        return args.run(args)
    except ValueError as error:
        print(f"lstm-zoo {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
