"""The one vocabulary type: tokens in id order, 0 = `<pad>`, 1 = `<unk>`.

Every task model's ids come from a `Vocabulary`; unknown tokens map to id 1, `<unk>` (the
name Mikolov's PTB text already uses), never to a second spelling.

On disk (`assets/tokenizer/vocabulary.txt` of a preset) it is one token a line in id order,
each written as the body of a JSON string (so "\\n", " " and "\\\\" of a character
vocabulary survive): `save` and `load` are exact inverses.

Example:

>>> vocabulary = Vocabulary.build([["a", "b", "a"], ["c"]])
>>> vocabulary.tokens
['<pad>', '<unk>', 'a', 'b', 'c']
>>> vocabulary.encode(["a", "zzz"])
[2, 1]
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from lstm_zoo.validation import check_int

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocabulary:
    """Token <-> id with `<pad>` = 0 and `<unk>` = 1.

    Args:
        tokens: list of str. The tokens in id order. If it holds neither `<pad>` nor
            `<unk>`, they are put first.

    Raises:
        ValueError: tokens not a list of non-empty strings, a duplicate token, or `<pad>` /
            `<unk>` anywhere but ids 0 / 1.
    """

    def __init__(self, tokens):
        if isinstance(tokens, (str, bytes)) or not hasattr(tokens, "__iter__"):
            raise ValueError(f"tokens must be a list of strings; got {type(tokens).__name__}")
        tokens = list(tokens)
        bad = next((t for t in tokens if not isinstance(t, str) or not t), None)
        if bad is not None:
            raise ValueError(f"vocabulary tokens must be non-empty strings; got {bad!r}")
        if tokens[:2] != [PAD, UNK]:
            if PAD in tokens or UNK in tokens:
                # One of them given elsewhere: inserting or moving it would silently move ids.
                token_id, special = next(
                    (i, s) for i, s in enumerate((PAD, UNK)) if tokens[i : i + 1] != [s]
                )
                where = f"it is at {tokens.index(special)}" if special in tokens else "absent"
                raise ValueError(
                    f"{special!r} must be id {token_id} ({where}); use "
                    "Vocabulary.from_legacy for `<pad>, <oov>, ...` lists"
                )
            tokens = [PAD, UNK] + tokens
        index = {}
        for position, token in enumerate(tokens):
            if token in index:
                raise ValueError(
                    f"vocabulary token {token!r} appears twice (ids {index[token]} and {position})"
                )
            index[token] = position
        self.tokens = tokens
        self.index = index

    @classmethod
    def from_legacy(cls, tokens):
        """The vocabulary of an older lstm_zoo list, ids unchanged: `<pad>, <oov>, words...`
        (`data.classification.build_vocabulary`, `data.tagging`, run directories) becomes
        `<pad>, <unk>, words...`. A language-model list of lstm_zoo before 2026-12-07 (`<pad>`,
        then the words by frequency, `<unk>` among them) has no such mapping: its ids would
        move, so it is refused.
        """
        tokens = list(tokens)
        if tokens[:2] == [PAD, "<oov>"]:
            return cls([PAD, UNK] + tokens[2:])
        return cls(tokens)

    @classmethod
    def build(cls, token_lists, max_size=None, min_count=1, reserved=()):
        """Most frequent tokens first (ties in first-seen order).

        Args:
            token_lists: iterable of token lists (e.g. `tokenize` of each text).
            max_size: int or None. At most this many ids, `<pad>` and `<unk>` included.
            min_count: int. Rarer tokens are left out (they encode as `<unk>`).
            reserved: tokens placed right after `<unk>` whatever their counts (e.g. "<eos>").
        """
        check_int("max_size", max_size, low=3, none=True)
        check_int("min_count", min_count, low=1)
        if isinstance(token_lists, str):
            raise ValueError("token_lists must be a list of token lists; got one string")
        counts = Counter()
        for tokens in token_lists:
            if isinstance(tokens, str):
                raise ValueError(f"each item must be a list of tokens; got the string {tokens!r}")
            counts.update(tokens)
        fixed = [PAD, UNK] + [t for t in reserved if t not in (PAD, UNK)]
        ordered = sorted(counts, key=lambda t: -counts[t])
        ordered = [t for t in ordered if counts[t] >= min_count and t not in fixed]
        tokens = fixed + ordered
        return cls(tokens if max_size is None else tokens[:max_size])

    def __len__(self):
        return len(self.tokens)

    def __eq__(self, other):
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __repr__(self):
        return f"Vocabulary({len(self)} tokens: {self.tokens[:6]}...)"

    def encode(self, tokens):
        """Ids of `tokens` (a list of str); unknown tokens (and a literal "<pad>") -> 1."""
        if isinstance(tokens, str):
            raise ValueError(f"tokens must be a list of str; got the string {tokens!r:.60}")
        return [self.index.get(t, UNK_ID) or UNK_ID for t in tokens]

    def decode(self, ids):
        """Tokens of `ids`; ValueError naming the first id outside [0, len(self))."""
        out = []
        for position, token_id in enumerate(ids):
            if not 0 <= int(token_id) < len(self.tokens):
                raise ValueError(
                    f"id {int(token_id)} (position {position}) is outside the vocabulary "
                    f"[0, {len(self.tokens)})"
                )
            out.append(self.tokens[int(token_id)])
        return out

    def save(self, path):
        """Write vocabulary.txt: one JSON-escaped token a line, in id order."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = (json.dumps(t, ensure_ascii=False)[1:-1] for t in self.tokens)
        path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path):
        """Read what `save` wrote; ValueError naming the file and line that is wrong."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"{path}: no vocabulary file")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: corrupt (not UTF-8 text)") from None
        tokens = []
        for number, line in enumerate(text.split("\n")[:-1], start=1):
            try:
                token = json.loads(f'"{line}"')
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: corrupt token line ({error.msg})") from None
            tokens.append(token)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"{path}: corrupt (the first two lines must be {PAD} and {UNK})")
        try:
            return cls(tokens)
        except ValueError as error:
            raise ValueError(f"{path}: corrupt ({error})") from None
