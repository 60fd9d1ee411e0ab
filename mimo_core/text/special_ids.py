"""Special-token ids, read from the checkpoint's text tokenizer (docs/FORMAT.md section 4).

Ids are never hard-coded: the real checkpoints, the test fixtures and the tiny demo
tokenizer all place them differently. A tokenizer lacking any of the eight MiMo tokens
gets them added as special tokens, in the order of docs/FORMAT.md section 4.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..constants import MIMO_SPECIAL_TOKENS
from ..errors import ModelLoadError


@dataclass(frozen=True)
class SpecialIds:
    endoftext: int
    im_start: int
    im_end: int
    sosp: int
    eosp: int
    empty: int
    human: int
    speechlm: int
    sostm: int
    eostm: int
    eot: int

    def control_ids(self) -> frozenset[int]:
        """Every id a user must never be able to produce by typing text."""
        return frozenset(vars(self).values())


def markup_ids(tokenizer, special_ids: SpecialIds) -> frozenset[int]:
    """Every id that is markup rather than text: the MiMo control tokens and the tokenizer's own
    special tokens (``<|im_start|>``, ``<|endoftext|>``...). Users cannot type them into a prompt
    (:class:`~mimo_core.prompts.text_encoding.TextEncoder`) and people never see them in an
    answer (:class:`~mimo_core.prompts.extraction.OutputReader`)."""
    return special_ids.control_ids() | frozenset(int(i) for i in getattr(tokenizer, "all_special_ids", ()))


_FIELD_BY_TOKEN = {
    "<|endoftext|>": "endoftext",
    "<|im_start|>": "im_start",
    "<|im_end|>": "im_end",
    "<|sosp|>": "sosp",
    "<|eosp|>": "eosp",
    "<|empty|>": "empty",
    "<|Human|>": "human",
    "<|SpeechLM|>": "speechlm",
    "<|sostm|>": "sostm",
    "<|eostm|>": "eostm",
    "<|eot|>": "eot",
}


def special_ids_from_tokenizer(tokenizer) -> SpecialIds:
    """Look every special token up in a transformers tokenizer (after :func:`ensure_mimo_tokens`)."""
    vocab = tokenizer.get_vocab()
    missing = [tok for tok in _FIELD_BY_TOKEN if tok not in vocab]
    if missing:
        raise ModelLoadError(f"text tokenizer lacks special tokens {missing}")
    return SpecialIds(**{field: int(vocab[tok]) for tok, field in _FIELD_BY_TOKEN.items()})


def ensure_mimo_tokens(tokenizer) -> None:
    """Add, in the order of docs/FORMAT.md section 4, any of the eight MiMo tokens the tokenizer lacks."""
    vocab = tokenizer.get_vocab()
    for tok in MIMO_SPECIAL_TOKENS:
        if tok not in vocab:
            tokenizer.add_special_tokens({"additional_special_tokens": [tok]},
                                         replace_additional_special_tokens=False)


def load_text_tokenizer(path: str | Path):
    """Load the Qwen2 BPE tokenizer stored beside an LM checkpoint; returns (tokenizer, SpecialIds)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except Exception as exc:  # noqa: BLE001 - any failure here is a load error for the user
        raise ModelLoadError(f"cannot load the text tokenizer from {path}: {exc}") from exc
    ensure_mimo_tokens(tokenizer)
    return tokenizer, special_ids_from_tokenizer(tokenizer)
