"""The one tokenization rule of lstm_zoo, written twice: in Python and in TensorFlow ops.

The rule (both halves implement exactly this, and tests/text check they agree on arbitrary
Unicode strings):

1. Case folding (when `lowercase=True`): every code point c is replaced by `fold(c)`, where
   `fold(c)` is `c.casefold()` if that is a single code point, else `c.lower()` if that is a
   single code point, else c. This is Unicode *simple* case folding (one code point to one,
   no context): "ẞ" -> "ß", "Σ" -> "σ" and "ς" -> "σ" anywhere in a word, "İ" -> "i̇" is not
   applied (its folding is two code points), Cherokee lower case folds to upper case as
   Unicode says. Python's `str.lower` (final sigma, "İ" -> two code points) and TensorFlow's
   `tf.strings.lower` (ICU, a different Unicode version) disagree with each other on such
   characters; the table below, built from the running Python's `unicodedata`
   (`UNICODE_VERSION`), is what both halves apply, so they never do.
2. Splitting (`level="word"`): on runs of the code points in `WHITESPACE` (the 29 code points
   for which Python's `str.isspace` is true: ASCII whitespace, the information separators
   U+001C-U+001F, NEL, NO-BREAK SPACE, the Unicode space separators, LINE and PARAGRAPH
   SEPARATOR); leading and trailing whitespace gives no empty token. `level="word_punct"`:
   the same, after every code point of `PUNCTUATION` (the 32 ASCII punctuation characters of
   Python's `string.punctuation`) has been made a token of its own ("great!" -> "great", "!";
   "don't" -> "don", "'", "t"; "!!" -> "!", "!"), so punctuation does not multiply the
   vocabulary and words match pretrained vectors. `level="char"`: every code point is a token
   (whitespace included).

Example:

>>> tokenize("  Ünïcode\u2003ΣΑΣ  ", lowercase=True)
['ünïcode', 'σασ']
>>> tokenize("ab c", level="char")
['a', 'b', ' ', 'c']
>>> tokenize("A great film!", lowercase=True, level="word_punct")
['a', 'great', 'film', '!']
"""

from __future__ import annotations

import re
import string
import sys
import unicodedata
from functools import lru_cache

LEVELS = ("word", "word_punct", "char")
PUNCTUATION = string.punctuation  # ASCII only: fixed, the same in every Python
_PUNCTUATION_RE = re.compile("([" + re.escape(PUNCTUATION) + "])")
UNICODE_VERSION = unicodedata.unidata_version

# Python's str.isspace code points, fixed here so the rule does not move with Python.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)
_SPLIT_TABLE = {ord(c): " " for c in WHITESPACE}


@lru_cache(maxsize=1)
def folding_table():
    """{code point: folded code point} for every code point that simple folding changes."""
    table = {}
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:  # surrogates are not characters
            continue
        char = chr(code)
        folded = char.casefold()
        if len(folded) != 1:
            folded = char.lower()
        if len(folded) == 1 and folded != char:
            table[code] = ord(folded)
    return table


def check_level(level):
    """ValueError unless `level` is "word" or "char"."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
    return level


def fold_case(text):
    """`text` with every code point simply case-folded (rule 1)."""
    return text.translate(folding_table())


def tokenize(text, lowercase=False, level="word"):
    """Tokens of one string by the rule above (the Python half).

    Args:
        text: str. One text.
        lowercase: bool. Case-fold first.
        level: "word" (split on `WHITESPACE`), "word_punct" (the same, ASCII punctuation
            characters split off as tokens) or "char" (every code point).

    Raises:
        ValueError: `text` not a str, or an unknown level.
    """
    check_level(level)
    if not isinstance(text, str):
        raise ValueError(f"text must be a str; got {type(text).__name__} {text!r:.60}")
    if lowercase:
        text = fold_case(text)
    if level == "char":
        return list(text)
    if level == "word_punct":
        text = _PUNCTUATION_RE.sub(r" \1 ", text)
    return [token for token in text.translate(_SPLIT_TABLE).split(" ") if token]


def normalize_tokens(tokens, lowercase=False):
    """Pre-split tokens (a tagger's words) case-folded when `lowercase`; no splitting."""
    return [fold_case(t) for t in tokens] if lowercase else list(tokens)


# The TensorFlow half. Imported lazily so the Python half needs no TensorFlow.

_WHITESPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE) + "]+"
_PUNCTUATION_CLASS = "([" + "".join(f"\\x{{{ord(c):x}}}" for c in PUNCTUATION) + "])"


def tf_fold_case(texts, table=None):
    """Strings (any shape, or ragged) -> the same strings case-folded (rule 1), in graph.

    Args:
        texts: string tensor.
        table: the `tf_folding_table()` to use (a layer makes it once); None makes one.
    """
    import tensorflow as tf

    table = tf_folding_table() if table is None else table
    codes = tf.strings.unicode_decode(texts, "UTF-8", errors="strict")
    flat = codes.flat_values if isinstance(codes, tf.RaggedTensor) else codes
    folded = table.lookup(flat)
    folded = tf.where(folded >= 0, folded, flat)
    codes = codes.with_flat_values(folded) if isinstance(codes, tf.RaggedTensor) else folded
    return tf.strings.unicode_encode(codes, "UTF-8")


def tf_folding_table():
    """The folding table as a `tf.lookup.StaticHashTable` (int32 code point -> folded, -1
    for code points folding leaves alone)."""
    import tensorflow as tf

    table = folding_table()
    keys = tf.constant(list(table), dtype=tf.int32)
    values = tf.constant(list(table.values()), dtype=tf.int32)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), -1)


def tf_tokenize(texts, lowercase=False, level="word", table=None):
    """[batch] strings -> ragged [batch, (tokens)] strings by the rule above (the TF half).

    Every op is a TensorFlow op, so this runs in `tf.data` maps, `tf.function`s and exported
    SavedModels. Invalid UTF-8 is an InvalidArgumentError. `table`: as in `tf_fold_case`.
    """
    import tensorflow as tf

    check_level(level)
    texts = tf.convert_to_tensor(texts, dtype=tf.string)
    if lowercase:
        texts = tf_fold_case(texts, table)
    if level == "char":
        return tf.strings.unicode_split(texts, "UTF-8", errors="strict")
    if level == "word_punct":
        texts = tf.strings.regex_replace(texts, _PUNCTUATION_CLASS, r" \1 ")
    spaced = tf.strings.regex_replace(texts, _WHITESPACE_CLASS, " ")
    return tf.strings.split(spaced)
