"""Text side: the Qwen2 BPE tokenizer with MiMo's special tokens."""

from .special_ids import SpecialIds, load_text_tokenizer, special_ids_from_tokenizer

__all__ = ["SpecialIds", "load_text_tokenizer", "special_ids_from_tokenizer"]
