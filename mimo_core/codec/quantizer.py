"""Residual vector quantizer (inference only), float32 whatever the model dtype.

Keys: ``quantizer.vq.layers.{q}._codebook.{embed, embed_avg, cluster_size, inited}``.
Only ``embed`` ([size, D]) is used; the training statistics are kept as buffers so the
checkpoint loads strictly. Nearest row by squared Euclidean distance, written exactly
as the reference scores it: -(|x|^2 - 2 x.e + |e|^2), first maximum wins.
"""

from __future__ import annotations

import torch
from torch import nn


class Codebook(nn.Module):
    def __init__(self, size: int, dim: int):
        super().__init__()
        self.register_buffer("inited", torch.zeros(1))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", torch.zeros(size, dim))
        self.register_buffer("embed_avg", torch.zeros(size, dim))

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, D] -> negated squared distances [N, size] (larger = nearer)."""
        embed_t = self.embed.float().t()                                                  # [D, size]
        return -(x.pow(2).sum(1, keepdim=True) - 2 * x @ embed_t + embed_t.pow(2).sum(0, keepdim=True))

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        return self.scores(x).max(dim=-1).indices                                         # [N]

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return nn.functional.embedding(codes, self.embed.float())                         # [N, D]


class CodebookSlot(nn.Module):
    """Holds ``_codebook`` (the reference wraps each codebook in a VectorQuantization)."""

    def __init__(self, size: int, dim: int):
        super().__init__()
        self._codebook = Codebook(size, dim)


class ResidualLayers(nn.Module):
    def __init__(self, sizes: list[int], dim: int):
        super().__init__()
        self.layers = nn.ModuleList(CodebookSlot(size, dim) for size in sizes)


class ResidualVectorQuantizer(nn.Module):
    def __init__(self, sizes: list[int], dim: int):
        super().__init__()
        self.sizes = list(sizes)
        self.vq = ResidualLayers(self.sizes, dim)

    def codebook(self, index: int) -> Codebook:
        return self.vq.layers[index]._codebook

    @torch.no_grad()
    def encode(self, x: torch.Tensor, num_quantizers: int | None = None) -> torch.Tensor:
        """x [N, D] -> codes [C, N] (int64); the residual passes from stage to stage in fp32."""
        residual = x.float()
        codes = []
        for index in range(num_quantizers or len(self.sizes)):
            book = self.codebook(index)
            chosen = book.nearest(residual)
            residual = residual - book.lookup(chosen)
            codes.append(chosen)
        return torch.stack(codes)                                                         # [C, N]

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """codes [C, N] -> sum of the selected rows [N, D] float32, over the C channels given."""
        total = torch.tensor(0.0, device=codes.device)
        for index, row in enumerate(codes):
            total = total + self.codebook(index).lookup(row)
        return total
