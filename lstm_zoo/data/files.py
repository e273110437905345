"""Opening data files: plain or gzip, UTF-8, errors that name the file and line."""

from __future__ import annotations

import gzip
import os
from pathlib import Path


def dataset_path(*parts):
    """A path under the shared data folder: `$LSTM_ZOO_DATA`, else `../shared/data` beside the
    project. Raises FileNotFoundError saying where it looked."""
    roots = []
    if os.environ.get("LSTM_ZOO_DATA"):
        roots.append(Path(os.environ["LSTM_ZOO_DATA"]))
    default = Path(__file__).resolve().parents[3] / "shared" / "data"
    if default not in roots:
        roots.append(default)
    for root in roots:
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    looked = ", ".join(str(r.joinpath(*parts)) for r in roots)
    raise FileNotFoundError(f"data file not found; looked in: {looked} (set $LSTM_ZOO_DATA)")


def read_lines(path):
    """Yield (line_number, text) of a UTF-8 text file, `.gz` or plain.

    Raises:
        ValueError: the file is missing or a line is not valid UTF-8 (naming file and line).
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                yield number, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
