"""The Python and TensorFlow halves of the tokenizer rule agree on arbitrary Unicode."""

import sys

import pytest
import tensorflow as tf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lstm_zoo.text import WHITESPACE, Vocabulary, tf_fold_case, tf_tokenize, tokenize
from lstm_zoo.text.tokenizer import PUNCTUATION, folding_table

# Text heavy in the characters where lowercasing rules differ: whitespace of every kind,
# Greek sigma, Turkish dotted I, sharp s, Cherokee, ligatures, combining marks, astral planes.
# ASCII punctuation and look-alikes for level="word_punct".
_TRICKY = list(WHITESPACE) + list("ΣσςİıIiẞßﬀﬁǅǄǆᏸᏰꭰ\u0307\u0345ΐ𐐀𐐨Ωℹ")
_TRICKY += list(PUNCTUATION + "’“！。")
_TEXT = st.text(
    alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(_TRICKY)), max_size=40
)


def _decoded(ragged):
    return [[t.decode("utf-8") for t in row] for row in ragged.to_list()]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=st.lists(_TEXT, min_size=1, max_size=6))
def test_python_and_tensorflow_halves_agree(texts):
    for lowercase in (False, True):
        for level in ("word", "word_punct", "char"):
            expected = [tokenize(t, lowercase, level) for t in texts]
            assert _decoded(tf_tokenize(texts, lowercase, level)) == expected, (lowercase, level)


def test_every_whitespace_code_point_splits_and_nothing_else_does():
    assert set(WHITESPACE) == {chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()}
    text = "a" + "b".join(WHITESPACE) + "c"
    assert tokenize(text) == ["a"] + ["b"] * (len(WHITESPACE) - 1) + ["c"]
    assert _decoded(tf_tokenize([text])) == [tokenize(text)]
    # Zero-width space and the word joiner are not whitespace (str.isspace is False).
    assert tokenize("a\u200bb\u2060c") == ["a\u200bb\u2060c"]


def test_word_punct_splits_ascii_punctuation_off_and_nothing_else():
    text = "Don't -- it's GREAT!!(really)… “ok”\u3000a.b"
    expected = ["don", "'", "t", "-", "-", "it", "'", "s", "great", "!", "!", "(", "really"]
    expected += [")", "…", "“ok”", "a", ".", "b"]  # non-ASCII punctuation is no split
    assert tokenize(text, lowercase=True, level="word_punct") == expected
    assert _decoded(tf_tokenize([text], True, "word_punct")) == [expected]
    every = "x".join(PUNCTUATION)
    assert len(PUNCTUATION) == 32
    assert tokenize(every, level="word_punct") == [t for c in PUNCTUATION for t in (c, "x")][:-1]


def test_folding_is_one_code_point_to_one():
    assert tokenize("ΣΑΣ Straße ẞ İ ǅ ᏸ", lowercase=True) == ["σασ", "straße", "ß", "İ", "ǆ", "Ᏸ"]
    # Final sigma folds to sigma in both halves (str.lower would give a final sigma).
    assert tokenize("ΟΔΟΣ", lowercase=True) == ["οδοσ"]
    assert all(len(chr(k)) == len(chr(v)) == 1 for k, v in list(folding_table().items())[:50])
    assert tf_fold_case(tf.constant(["ΟΔΟΣ"])).numpy()[0].decode() == "οδοσ"


def test_leading_trailing_and_empty():
    assert tokenize("  \u3000 ") == []
    assert _decoded(tf_tokenize(["  \u3000 ", ""])) == [[], []]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="level must be"):
        tokenize("a", level="byte")
    with pytest.raises(ValueError, match="text must be a str"):
        tokenize(b"a")


def test_vocabulary_round_trips_every_character(tmp_path):
    vocabulary = Vocabulary(["\n", " ", "\\", '"', "\u2028", "é", "<eos>"])
    assert vocabulary.tokens[:2] == ["<pad>", "<unk>"]
    path = vocabulary.save(tmp_path / "vocabulary.txt")
    assert Vocabulary.load(path) == vocabulary
    assert len(path.read_text(encoding="utf-8").split("\n")) == len(vocabulary) + 1


def test_vocabulary_build_and_errors(tmp_path):
    vocabulary = Vocabulary.build([["b", "a", "b"], ["c"]], reserved=["<eos>"], max_size=4)
    assert vocabulary.tokens == ["<pad>", "<unk>", "<eos>", "b"]
    assert vocabulary.encode(["b", "zz", "<pad>"]) == [3, 1, 1]
    with pytest.raises(ValueError, match=r"'<unk>' must be id 1 \(it is at 3\)"):
        Vocabulary(["<pad>", "the", "a", "<unk>"])  # a language-model list: ids would move
    legacy = Vocabulary.from_legacy(["<pad>", "<oov>", "the", "a"])
    assert legacy.tokens == ["<pad>", "<unk>", "the", "a"]
    with pytest.raises(ValueError, match="appears twice"):
        Vocabulary(["<pad>", "<unk>", "a", "a"])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        vocabulary.decode([9])
    bad = tmp_path / "vocabulary.txt"
    bad.write_text("<pad>\n<unk>\na\\q\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocabulary.txt:3: corrupt"):
        Vocabulary.load(bad)
    bad.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="first two lines"):
        Vocabulary.load(bad)
