"""Text side: the Qwen2 BPE tokenizer with MiMo's special tokens, and the tiny demo tokenizer."""

from .special_ids import SpecialIds, load_text_tokenizer, special_ids_from_tokenizer
from .tiny_tokenizer import write_tiny_text_tokenizer

__all__ = ["SpecialIds", "load_text_tokenizer", "special_ids_from_tokenizer", "write_tiny_text_tokenizer"]
