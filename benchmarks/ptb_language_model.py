"""PTB word-level language model with a Zaremba et al. (2014) preset; test perplexity beside the
paper's (TensorFlow PTB tutorial: small 115.9, medium 82.1, large 78.3).

Truncated BPTT over one contiguous stream with the state carried across batches; states are
reset at each epoch and around each evaluation pass. Validation is measured after every epoch,
the test set once at the end (both with the training batch shape, state carried).

    python benchmarks/ptb_language_model.py --preset ptb-small [--cell zoo_lstm] [--epochs N]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402

from lstm_zoo.bench import write_json  # noqa: E402
from lstm_zoo.data import Vocabulary, dataset_path, lm_windows, read_lm_tokens  # noqa: E402
from lstm_zoo.models import (  # noqa: E402
    EpochLearningRateDecay,
    ResetStatesAtEpochAndEvaluation,
    compile_language_model,
    language_model,
    language_model_preset,
)

PAPER_TEST_PERPLEXITY = {"ptb-small": 115.9, "ptb-medium": 82.1, "ptb-large": 78.3}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="ptb-small", choices=sorted(PAPER_TEST_PERPLEXITY))
    parser.add_argument("--cell", default="lstm", help="recurrent-layer registry name")
    parser.add_argument("--epochs", type=int, help="override the preset's epoch count")
    parser.add_argument("--json", default=None, help="where to write the results")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    preset = language_model_preset(args.preset)
    training = preset["training"]
    epochs = args.epochs or training["epochs"]

    train_tokens = read_lm_tokens(dataset_path("ptb", "ptb.train.txt.gz"))
    vocab = Vocabulary.build([train_tokens])
    splits = {
        "train": vocab.encode(train_tokens),
        "valid": vocab.encode(read_lm_tokens(dataset_path("ptb", "ptb.valid.txt"))),
        "test": vocab.encode(read_lm_tokens(dataset_path("ptb", "ptb.test.txt"))),
    }
    print(
        f"PTB: vocabulary {len(vocab) - 1} words (+ padding); tokens "
        + ", ".join(f"{k} {len(v):,}" for k, v in splits.items())
    )
    batch, steps = training["batch_size"], training["num_steps"]
    data = {k: lm_windows(v, batch, steps) for k, v in splits.items()}

    model = language_model(
        len(vocab),
        cell=args.cell,
        batch_size=batch,
        num_steps=steps,
        stateful=True,
        **preset["model"],
    )
    compile_language_model(
        model,
        training["learning_rate"],
        training["max_grad_norm"],
        num_steps=steps,  # the tutorial's loss: summed over time steps
        steps_per_execution=50,
    )
    schedule = EpochLearningRateDecay(
        float(model.optimizer.learning_rate.numpy()),
        training["lr_decay"],
        training["decay_after_epoch"],
    )
    history = model.fit(
        data["train"],
        validation_data=data["valid"],
        epochs=epochs,
        shuffle=False,
        verbose=2,
        callbacks=[ResetStatesAtEpochAndEvaluation(), schedule],
    )
    test = model.evaluate(
        data["test"], verbose=0, return_dict=True, callbacks=[ResetStatesAtEpochAndEvaluation()]
    )
    wall = time.perf_counter() - started
    result = {
        "preset": args.preset,
        "cell": args.cell,
        "epochs": epochs,
        "valid_perplexity": [float(v) for v in history.history["val_perplexity"]],
        "test_perplexity": float(test["perplexity"]),
        "paper_test_perplexity": PAPER_TEST_PERPLEXITY[args.preset],
        "wall_s": wall,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cpus",
    }
    print(
        f"\n{args.preset} / {args.cell}: test perplexity {result['test_perplexity']:.1f} "
        f"(paper {result['paper_test_perplexity']}), "
        f"valid {result['valid_perplexity'][-1]:.1f}, {epochs} epochs, {wall / 60:.1f} min"
    )
    path = args.json or f"benchmarks/out/ptb_{args.preset}_{args.cell}.json"
    write_json(path, result)


if __name__ == "__main__":
    main()
