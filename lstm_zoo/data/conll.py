"""Tagged sentences from CoNLL-U (Universal Dependencies) and CoNLL-2003 column files."""

from __future__ import annotations

from lstm_zoo.data.files import read_lines

CONLLU_COLUMNS = ("id", "form", "lemma", "upos", "xpos", "feats", "head", "deprel", "deps", "misc")


def read_conllu(path, tag_column="upos"):
    """Sentences of a CoNLL-U file as (words, tags) pairs.

    Comment lines (#), multiword-token ranges (ids like 3-4) and empty nodes (ids like 5.1) are
    skipped: the words are the syntactic words, as UD's tagging scores count them.

    Args:
        path: str or Path, plain or `.gz`.
        tag_column: "upos" or "xpos" (or any CoNLL-U column name).

    Raises:
        ValueError: a token line without 10 tab-separated columns, a bad id, an empty tag, or a
            file without sentences; the message names the file and line.
    """
    if tag_column not in CONLLU_COLUMNS[1:]:
        raise ValueError(f"tag_column must be one of {CONLLU_COLUMNS[1:]}; got {tag_column!r}")
    column = CONLLU_COLUMNS.index(tag_column)
    sentences, words, tags = [], [], []
    for number, line in read_lines(path):
        if not line.strip():
            if line and words:
                raise ValueError(f"{path}:{number}: a line of only whitespace inside a sentence")
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        if line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 10:
            raise ValueError(f"{path}:{number}: {len(fields)} tab-separated columns, expected 10")
        token_id = fields[0]
        if "-" in token_id or "." in token_id:
            continue
        if not token_id.isdigit():
            raise ValueError(f"{path}:{number}: bad token id {token_id!r}")
        if int(token_id) != len(words) + 1:
            raise ValueError(
                f"{path}:{number}: token id {token_id}, expected {len(words) + 1} (ids count "
                "1, 2, ... within a sentence; a missing blank line between sentences?)"
            )
        if not fields[1]:
            raise ValueError(f"{path}:{number}: empty form (column 2)")
        if not fields[column] or fields[column] == "_" and tag_column in ("upos",):
            raise ValueError(f"{path}:{number}: empty {tag_column} for {fields[1]!r}")
        words.append(fields[1])
        tags.append(fields[column])
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise ValueError(f"{path}: the file holds no sentences")
    return sentences


def read_conll_columns(path, tag_column=-1, word_column=0):
    """Sentences of a whitespace-separated column file (CoNLL-2003: `word POS chunk NER`).

    Blank lines end sentences; `-DOCSTART-` lines are skipped. Every token line must have the
    same number of columns as the first.

    Raises:
        ValueError: a line with a different column count, fewer than two columns, a
            tag_column or word_column outside the columns, or no sentences (file and line).
    """
    for name, value in (("tag_column", tag_column), ("word_column", word_column)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be an integer column index; got {name}={value!r}")
    sentences, words, tags, width = [], [], [], None
    for number, line in read_lines(path):
        fields = line.split()
        if not fields:
            if words:
                sentences.append((words, tags))
                words, tags = [], []
            continue
        if fields[0] == "-DOCSTART-":
            continue
        if width is None:
            width = len(fields)
            if width < 2:
                raise ValueError(
                    f"{path}:{number}: 1 column; expected a word and a tag (at least 2)"
                )
            for name, value in (("tag_column", tag_column), ("word_column", word_column)):
                if not -width <= value < width:
                    raise ValueError(
                        f"{name} must be in [{-width}, {width - 1}] for the {width} columns of "
                        f"{path}:{number}; got {name}={value}"
                    )
        if len(fields) != width:
            raise ValueError(f"{path}:{number}: {len(fields)} columns, expected {width}")
        words.append(fields[word_column])
        tags.append(fields[tag_column])
    if words:
        sentences.append((words, tags))
    if not sentences:
        raise ValueError(f"{path}: the file holds no sentences")
    return sentences
