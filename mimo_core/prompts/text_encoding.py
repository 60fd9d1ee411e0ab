"""Text -> ids for prompt segments, with user text that can never inject control tokens.

The reference tokenizes every segment string as a whole, so a user who types
``<|im_end|>`` or ``<|sostm|>`` into a TTS text or a chat message gets the real control
token and can rewrite the conversation. Here a segment is assembled from parts:

* :class:`Markup` parts are our fixed template strings; the added tokens in them
  (``<|im_start|>``, ``<|sostm|>``...) become their ids;
* plain ``str`` parts are user text; they are tokenized with ``split_special_tokens=True``
  so ``<|im_end|>`` typed by a user becomes the ordinary BPE pieces of ``<``, ``|``, ...

Exactness: a tokenizer cuts the text at added tokens *before* BPE, so the reference's ids
are the added-token ids interleaved with the BPE ids of the plain runs between them. We
cut the markup at the same added tokens, glue each plain run back together (markup text and
user text alike, in order) and BPE each run whole; for text without control tokens the ids
are identical to the reference's, id for id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..errors import PromptError
from ..text.special_ids import SpecialIds, markup_ids


@dataclass(frozen=True)
class Markup:
    """A trusted template string whose special tokens are meant (``"<|im_start|>user\\n"``)."""

    text: str


class TextEncoder:
    """Tokenizes segment parts for one tokenizer (see the module docstring)."""

    def __init__(self, tokenizer, special_ids: SpecialIds):
        self.tokenizer = tokenizer
        self.special_ids = special_ids
        added = tokenizer.get_added_vocab()                 # content -> id
        self._added = dict(added)
        # longest first so that a token that is a prefix of another cannot win
        alternatives = sorted(added, key=len, reverse=True)
        self._added_re = re.compile("|".join(re.escape(t) for t in alternatives)) if alternatives else None
        self._forbidden = set(markup_ids(tokenizer, special_ids))
        id_to_token = {i: t for t, i in added.items()}
        self._forbidden_strings = sorted(
            {id_to_token[i] for i in self._forbidden if i in id_to_token}, key=len, reverse=True)

    # ---------------------------------------------------------------------------- plain
    def _bpe(self, text: str) -> list[int]:
        out = self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)
        return [int(i) for i in out["input_ids"]]

    def plain(self, text: str) -> list[int]:
        """Ids of ``text`` as ordinary text: no special/control token can come out."""
        if not text:
            return []
        ids = self._bpe(text)
        if self._forbidden.isdisjoint(ids):
            return ids
        # A control token registered as a *non-special* added token is still matched by the
        # tokenizer; break every such occurrence after its first character and retry.
        pieces = [text]
        for tok in self._forbidden_strings:
            pieces = [p for piece in pieces for p in _split_keep_broken(piece, tok)]
        ids = [i for piece in pieces for i in self._bpe(piece)]
        if not self._forbidden.isdisjoint(ids):
            raise PromptError("text could not be tokenized without control tokens")
        return ids

    # --------------------------------------------------------------------------- segment
    def encode(self, *parts: str | Markup) -> list[int]:
        """Ids of one segment built from :class:`Markup` (trusted) and ``str`` (user) parts."""
        ids: list[int] = []
        run: list[str] = []
        for piece in self._pieces(parts):
            if isinstance(piece, int):
                ids += self.plain("".join(run))
                run = []
                ids.append(piece)
            else:
                run.append(piece)
        ids += self.plain("".join(run))
        return ids

    def _pieces(self, parts: Iterable[str | Markup]):
        for part in parts:
            if isinstance(part, Markup):
                yield from self._split_markup(part.text)
            elif isinstance(part, str):
                yield part
            else:
                raise TypeError(f"segment parts are str or Markup, got {type(part).__name__}")

    def _split_markup(self, text: str):
        """Yield plain strings and added-token ids, in order, as the tokenizer would cut them."""
        if self._added_re is None:
            yield text
            return
        pos = 0
        for match in self._added_re.finditer(text):
            if match.start() > pos:
                yield text[pos:match.start()]
            yield self._added[match.group(0)]
            pos = match.end()
        if pos < len(text):
            yield text[pos:]


def _split_keep_broken(text: str, token: str) -> list[str]:
    """Split ``text`` so that every occurrence of ``token`` straddles two pieces.

    >>> _split_keep_broken("a<|x|>b", "<|x|>")
    ['a<', '|x|>b']
    """
    segs = text.split(token)
    if len(segs) == 1:
        return [text]
    head, tail = token[:1], token[1:]
    pieces = [segs[0] + head] + [tail + s + head for s in segs[1:-1]] + [tail + segs[-1]]
    return [p for p in pieces if p]
