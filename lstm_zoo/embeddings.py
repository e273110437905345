"""Pretrained word vectors (GloVe, word2vec text/binary, fastText .vec) -> an embedding matrix.

The file is streamed once; only the vectors of the requested vocabulary are kept, so a
400k-word file is never held in memory. Row 0 is padding (zeros); every other row is the file's
vector for that token, or, for tokens the file lacks, a draw from N(0, std of the found
vectors) so the model can still tell them apart (counted in the report, never silent).
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lstm_zoo.data.files import gzip_problem, open_binary

FORMATS = ("glove", "word2vec", "word2vec-binary", "fasttext")


@dataclass
class CoverageReport:
    """What the vector file gave for the vocabulary."""

    vocabulary_size: int
    dimension: int
    found: int = 0
    found_lowercase: int = 0
    missing: list = field(default_factory=list)
    duplicates: int = 0
    lines_read: int = 0

    @property
    def coverage(self):
        """Share of the non-reserved vocabulary that got a pretrained vector."""
        wanted = self.found + self.found_lowercase + len(self.missing)
        return (self.found + self.found_lowercase) / wanted if wanted else 0.0

    def __str__(self):
        return (
            f"{self.found + self.found_lowercase:,} of "
            f"{self.found + self.found_lowercase + len(self.missing):,} tokens found "
            f"({self.coverage:.1%}; {self.found_lowercase:,} by lowercase), "
            f"{len(self.missing):,} missing, {self.duplicates:,} duplicate lines skipped, "
            f"{self.lines_read:,} lines read, dimension {self.dimension}"
        )


def load_embeddings(
    path,
    vocabulary,
    file_format=None,
    reserved=1,
    lowercase_fallback=False,
    expected_dim=None,
    seed=0,
):
    """Read the vectors of `vocabulary` from a vector file.

    Args:
        path: str or Path. The vector file, plain or `.gz`.
        vocabulary: sequence of str. Row i of the matrix is vocabulary[i]; the first
            `reserved` entries (padding, out-of-vocabulary) are not looked up; row 0 is zeros.
        file_format: one of "glove", "word2vec", "word2vec-binary", "fasttext", or None to
            detect it (`.bin` -> binary; a first line of two integers -> word2vec/fastText
            header; else GloVe).
        reserved: int. How many leading vocabulary entries are special (default 1: padding).
        lowercase_fallback: bool. A token missing as written takes the vector of its lowercase
            form when the file has it.
        expected_dim: int or None. Raise ValueError if the file's dimension differs.
        seed: int. Seed of the draws for missing tokens.

    Returns:
        (matrix float32 [len(vocabulary), dim], CoverageReport).

    Raises:
        ValueError: unknown format; a bad argument (`reserved`, `expected_dim`, an empty
            vocabulary); a malformed line (wrong number of fields, a line without numbers,
            tab-separated fields, a non-numeric, NaN or infinite value, undecodable bytes), a
            word2vec header whose count or dimension the file does not hold, a truncated or
            corrupt `.gz`: each naming the file and line; a dimension mismatch.

    Example:

    >>> matrix, report = load_embeddings("glove.6B.50d.txt.gz", ["<pad>", "the", "cat"])
    """
    path, vocabulary = Path(path), list(vocabulary)
    _check_arguments(path, vocabulary, file_format, reserved, expected_dim)
    if file_format is None:
        file_format = _detect_format(path)
    wanted, fallback = _rows_to_fill(vocabulary, reserved, lowercase_fallback)
    reader = _read_binary if file_format == "word2vec-binary" else _read_text
    lines = _gzip_errors(path, reader(path, file_format, expected_dim))
    vectors, exact, report = _matching_vectors(path, lines, wanted, fallback, len(vocabulary))
    return _matrix(vocabulary, reserved, vectors, exact, report, seed), report


def _check_arguments(path, vocabulary, file_format, reserved, expected_dim):
    """ValueError naming the first bad argument of `load_embeddings`."""
    if not path.exists():
        raise ValueError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a vector file")
    if file_format is not None and file_format not in FORMATS:
        raise ValueError(
            f"file_format must be one of {FORMATS} or None; got file_format={file_format!r}"
        )
    if not vocabulary:
        raise ValueError("vocabulary is empty; it needs at least the padding token")
    if isinstance(reserved, bool) or not isinstance(reserved, (int, np.integer)):
        raise ValueError(f"reserved must be an integer >= 0; got reserved={reserved!r}")
    if not 0 <= reserved <= len(vocabulary):
        raise ValueError(
            f"reserved must be in [0, {len(vocabulary)}] (the vocabulary size); "
            f"got reserved={reserved}"
        )
    bad = next((t for t in vocabulary if not isinstance(t, str)), None)
    if bad is not None:
        raise ValueError(f"vocabulary must hold strings; got {bad!r} ({type(bad).__name__})")
    if expected_dim is not None and (
        isinstance(expected_dim, bool)
        or not isinstance(expected_dim, (int, np.integer))
        or expected_dim < 1
    ):
        raise ValueError(
            f"expected_dim must be a positive integer or None; got expected_dim={expected_dim!r}"
        )


def _rows_to_fill(vocabulary, reserved, lowercase_fallback):
    """({word: rows}, {lowercase form: rows of words that may fall back to it})."""
    wanted = {}
    for index, token in enumerate(vocabulary):
        if index >= reserved:
            wanted.setdefault(token, []).append(index)
    fallback = {}
    if lowercase_fallback:
        for token, rows in wanted.items():
            if token.lower() != token:
                fallback.setdefault(token.lower(), []).extend(rows)
    return wanted, fallback


def _matching_vectors(path, lines, wanted, fallback, vocabulary_size):
    """One pass over (line, word, vector): ({row: vector}, rows found as written, report).
    The first occurrence of a word counts; an exact match wins over a lowercase fallback."""
    vectors, exact, seen = {}, set(), set()
    report = None
    for line_number, word, vector in lines:
        if report is None:
            report = CoverageReport(vocabulary_size, len(vector))
        report.lines_read = line_number
        if word in seen:
            report.duplicates += 1
            continue
        seen.add(word)
        for row in wanted.get(word, ()):
            vectors[row] = vector
            exact.add(row)
        for row in fallback.get(word, ()):
            vectors.setdefault(row, vector)
    if report is None:
        raise ValueError(f"{path}: the file holds no vectors")
    return vectors, exact, report


def _matrix(vocabulary, reserved, vectors, exact, report, seed):
    """The embedding matrix: found vectors; missing words drawn from N(0, std of the found);
    row 0 (padding) zeros. Counts found / lowercase / missing words into `report`."""
    matrix = np.zeros((len(vocabulary), report.dimension), dtype=np.float32)
    for row, vector in vectors.items():
        matrix[row] = vector
    found_rows = sorted(vectors)
    scale = float(matrix[found_rows].std()) if found_rows else 1.0
    rng = np.random.default_rng(seed)
    for index, token in enumerate(vocabulary):
        if index < reserved:
            continue
        if index in exact:
            report.found += 1
        elif index in vectors:
            report.found_lowercase += 1
        else:
            report.missing.append(token)
            if index > 0:
                matrix[index] = rng.normal(0.0, scale, report.dimension)
    matrix[0] = 0.0
    return matrix


def _detect_format(path):
    if path.name.endswith(".bin") or path.name.endswith(".bin.gz"):
        return "word2vec-binary"
    with _open(path) as f:
        try:
            first = f.readline().split()
        except (EOFError, OSError, zlib.error) as error:
            raise ValueError(f"{path}:1: {_gzip_problem(error)}") from None
    if len(first) == 2 and all(part.isdigit() for part in first):
        return "word2vec"
    return "glove"


_open = open_binary
_gzip_problem = gzip_problem


def _gzip_errors(path, records):
    """Re-raise a truncated or corrupt `.gz` as ValueError naming the file and the line after
    the last one read."""
    last = 0
    try:
        for record in records:
            last = record[0]
            yield record
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        raise ValueError(f"{path}:{last + 1}: {_gzip_problem(error)}") from None


def _read_text(path, file_format, expected_dim):
    """Yield (line_number, word, vector) from a text vector file."""
    dimension = count = None
    number = 0
    with _open(path) as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}:{number}: not valid UTF-8 ({error.reason} at byte {error.start})"
                ) from None
            if number == 1 and file_format in ("word2vec", "fasttext"):
                count, dimension = _parse_header(path, line)
                _check_dimension(path, dimension, expected_dim)
                continue
            if not line.strip():
                raise ValueError(f"{path}:{number}: empty line")
            parts = line.rstrip(" ").split(" ")
            word, values = parts[0], parts[1:]
            if "\t" in line and len(values) != (dimension or len(values) or 1):
                raise ValueError(
                    f"{path}:{number}: fields separated by tabs; a vector file has a word and "
                    "its numbers separated by single spaces"
                )
            if dimension is None:
                if not values:
                    raise ValueError(
                        f"{path}:{number}: expected a word and its numbers, found 1 field "
                        f"({word[:40]!r}): a word list, not a vector file?"
                    )
                dimension = len(values)
                _check_dimension(path, dimension, expected_dim)
            if len(values) != dimension:
                raise ValueError(
                    f"{path}:{number}: expected {dimension + 1} fields (a word and "
                    f"{dimension} numbers), found {len(parts)} for {word!r}"
                )
            try:
                with np.errstate(over="ignore"):  # an overflow is reported below, as inf
                    vector = np.array(values, dtype=np.float32)
            except ValueError:
                bad = next(v for v in values if not _is_float(v))
                raise ValueError(
                    f"{path}:{number}: non-numeric value {bad!r} for {word!r}"
                ) from None
            _check_finite(f"{path}:{number}", word, vector, values)
            yield number, word, vector
    if count is not None and number - 1 != count:
        raise ValueError(
            f"{path}:1: the header promises {count} vectors, the file holds {max(number - 1, 0)}"
        )


def _read_binary(path, file_format, expected_dim):
    """Yield (entry_number, word, vector) from a word2vec binary file."""
    with _open(path) as f:
        header = f.readline()
        try:
            _parse_header(path, header.decode("utf-8").strip())
        except UnicodeDecodeError:
            raise ValueError(f"{path}:1: the header is not text") from None
        count, dimension = _parse_header(path, header.decode("utf-8").strip())
        _check_dimension(path, dimension, expected_dim)
        for number in range(1, count + 1):
            word = bytearray()
            while True:
                ch = f.read(1)
                if not ch:
                    raise ValueError(
                        f"{path}: entry {number}: file ends inside a word (the header promises "
                        f"{count} vectors)"
                    )
                if ch == b" ":
                    break
                if ch != b"\n":
                    word.extend(ch)
            data = f.read(4 * dimension)
            if len(data) != 4 * dimension:
                raise ValueError(f"{path}: entry {number}: file ends inside a vector")
            try:
                text = word.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{path}: entry {number}: word is not valid UTF-8 ({error.reason})"
                ) from None
            vector = np.frombuffer(data, dtype="<f4").astype(np.float32)
            _check_finite(f"{path}: entry {number}", text, vector)
            yield number, text, vector
        rest = f.read(64)
        if rest.strip():
            raise ValueError(
                f"{path}: data after entry {count}, the last the header promises "
                f"({len(rest)}+ bytes left): the header's count is wrong"
            )


def _parse_header(path, line):
    """(count, dimension) of a word2vec / fastText header line."""
    parts = line.split()
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        raise ValueError(f"{path}:1: expected a header 'count dimension', got {line[:60]!r}")
    count, dimension = int(parts[0]), int(parts[1])
    if count < 1 or dimension < 1:
        raise ValueError(
            f"{path}:1: the header 'count dimension' needs both >= 1; got {line[:60]!r}"
        )
    return count, dimension


def _check_finite(where, word, vector, values=None):
    """ValueError at `where` (file:line) for a NaN or infinite value (a float32 overflow too)."""
    if not np.isfinite(vector).all():
        position = int(np.argmin(np.isfinite(vector)))
        shown = values[position] if values is not None else str(vector[position])
        raise ValueError(
            f"{where}: value {position + 1} of {word!r} is {shown!r}, not a finite float32"
        )


def _check_dimension(path, dimension, expected):
    if expected is not None and dimension != expected:
        raise ValueError(
            f"{path}: vectors have dimension {dimension}, the model expects {expected}"
        )


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False
