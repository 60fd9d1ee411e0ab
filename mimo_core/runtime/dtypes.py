"""Dtype policy: the LMs run in the dtype asked for; the audio tokenizer's follows from it."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import DeviceError

LM_DTYPES = (torch.float32, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class Dtypes:
    lm: torch.dtype         # the Instruct and Base LMs
    codec: torch.dtype      # the audio tokenizer

    @classmethod
    def choose(cls, dtype: torch.dtype | str) -> Dtypes:
        """The LMs in ``dtype`` (float32, bfloat16 or float16; DeviceError otherwise). The audio
        tokenizer runs in float32 or bfloat16, as the reference, which casts it to bf16 beside a
        bf16 LM: a float16 LM gets a float32 tokenizer."""
        from ..lm.loading import resolve_dtype      # mimo_core.lm imports transformers

        lm = resolve_dtype(dtype)
        if lm not in LM_DTYPES:
            raise DeviceError(f"unsupported dtype {dtype} (use float32, bfloat16 or float16)")
        return cls(lm, torch.bfloat16 if lm == torch.bfloat16 else torch.float32)

    def describe(self) -> dict:
        """For the status report."""
        return {"dtype": _name(self.lm), "tokenizer_dtype": _name(self.codec)}


def _name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")
