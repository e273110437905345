"""Opening data files: plain or gzip, UTF-8, errors that name the file and line."""

from __future__ import annotations

import gzip
import os
import zlib
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
        ValueError: the file is missing or a directory, a line is not valid UTF-8 or holds a
            NUL byte (a binary file), or a `.gz` is truncated or corrupt (naming file and line).
    """
    path = check_file(path)
    number = 0
    with open_binary(path) as f:
        lines = enumerate(f, start=1)
        while True:
            try:
                number, raw = next(lines)
            except StopIteration:
                return
            except (EOFError, gzip.BadGzipFile, zlib.error) as error:
                raise ValueError(f"{path}:{number + 1}: {gzip_problem(error)}") from None
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
            if "\x00" in text:
                raise ValueError(f"{path}:{number}: a NUL byte: a binary file, not text")
            yield number, text


def check_file(path):
    """`path` as a Path; ValueError unless it names an existing regular file."""
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a str or Path; got {path!r}")
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a file")
    return path


def open_binary(path):
    """The file opened for reading bytes, through gzip for a `.gz` name."""
    return gzip.open(path, "rb") if Path(path).suffix == ".gz" else open(path, "rb")


def gzip_problem(error):
    """What a gzip error means, in words (for messages that already name file and line)."""
    if isinstance(error, EOFError):
        return "the gzip file is truncated (it ends before its end-of-stream marker)"
    return f"not a valid gzip file ({type(error).__name__}: {error})"
