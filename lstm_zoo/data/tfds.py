"""tensorflow-datasets adapters for the public sets the factories train on.

`tfds.load` downloads on first use; offline (as on this project's machines) it fails unless
`data_dir` already holds the prepared dataset. The error then says how to pass local files.
"""

from __future__ import annotations

SUPPORTED = {
    "imdb_reviews": "lstm_zoo.data.classification.read_text_label_csv('imdb_train.csv.gz')",
    "glue/sst2": "lstm_zoo.data.classification.read_label_text_lines('stsa.binary.train')",
    "conll2003": "lstm_zoo.data.conll.read_conll_columns('eng.train')",
}


def load_tfds(name, split="train", data_dir=None, download=True, as_supervised=True):
    """`tfds.load(name, split=..., data_dir=..., as_supervised=...)` with a clear failure.

    Raises:
        ValueError: an unsupported name, or a load that failed (e.g. no network) — the
            message names the local-file reader to use instead.
    """
    if name not in SUPPORTED:
        raise ValueError(f"unsupported dataset {name!r}; supported: {', '.join(SUPPORTED)}")
    if not isinstance(split, str) or not split:
        raise ValueError(f"split must be a split name such as 'train'; got split={split!r}")
    if data_dir is not None and not download:
        from pathlib import Path

        if not Path(data_dir).is_dir():
            raise ValueError(
                f"data_dir={str(data_dir)!r}: no such directory (it should hold the prepared "
                f"tensorflow-datasets files); offline, read local files: {SUPPORTED[name]}"
            )
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ValueError(
            f"tensorflow-datasets is not installed; offline, read local files: {SUPPORTED[name]}"
        ) from None

    try:
        return tfds.load(
            name,
            split=split,
            data_dir=data_dir,
            download=download,
            as_supervised=as_supervised,
        )
    except Exception as error:  # tfds raises many types: network, missing files, assertions
        raise ValueError(
            f"could not load {name!r} with tensorflow-datasets (data_dir={data_dir!r}): "
            f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}. "
            f"Offline, pass local files instead: {SUPPORTED[name]}"
        ) from error
