"""A preallocated key/value cache that transformers' Qwen2 attention writes into.

``Qwen2Attention`` calls ``cache.update(key, value, layer_idx)`` and attends over what it
returns. This cache holds one ``[B, H, L, Dh]`` buffer per layer for keys and values,
allocated once. Before each forward the caller says where the new keys go:

* :meth:`at` -- every row writes at the same start (prefill, the patch decoder);
* :meth:`at_rows` -- row i writes its single new key at its own position ``pos[i]``
  (batched decoding of requests of different lengths).

``update`` returns views of the buffers (no copy) limited to the first ``read_len`` key
slots; slots beyond a row's own length must then be hidden by the caller's mask.
"""

from __future__ import annotations

import torch


class StaticKVCache:
    def __init__(self, num_layers: int, batch: int, kv_heads: int, length: int, head_dim: int,
                 *, dtype: torch.dtype, device: torch.device | str):
        shape = (batch, kv_heads, length, head_dim)  # (B, H, L, Dh)
        self.keys = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.zeros(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.batch, self.length = batch, length
        self._rows = slice(0, batch)
        self._start = 0
        self._row_index: torch.Tensor | None = None
        self._row_pos: torch.Tensor | None = None
        self._read_len = 0

    # ---- where the next forward writes ---------------------------------------------------
    def at(self, start: int, q_len: int, rows: slice | None = None) -> "StaticKVCache":
        """The rows in ``rows`` (a slice, default all) write q_len keys at positions
        start..start+q_len-1 and read slots 0..start+q_len-1."""
        rows = slice(0, self.batch) if rows is None else rows
        if start + q_len > self.length:
            raise IndexError(f"KV cache of {self.length} slots cannot hold position {start + q_len - 1}")
        self._rows, self._start, self._row_pos = rows, start, None
        self._read_len = start + q_len
        return self

    def at_rows(self, row_index: torch.Tensor, positions: torch.Tensor, read_len: int) -> "StaticKVCache":
        """Row row_index[i] writes one key at positions[i]; rows 0..n-1 read slots 0..read_len-1.

        ``row_index`` must be ``arange(n)`` (rows are kept compact by the caller); it is passed
        in so that no index tensor is built per step.
        """
        if read_len > self.length:
            raise IndexError(f"KV cache of {self.length} slots cannot hold position {read_len - 1}")
        self._rows, self._row_index, self._row_pos = slice(0, int(row_index.shape[0])), row_index, positions
        self._read_len = read_len
        return self

    # ---- the transformers Cache protocol used by Qwen2Attention ----------------------------
    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int, *_args, **_kwargs):
        k_buf, v_buf = self.keys[layer_idx], self.values[layer_idx]
        rows = self._rows
        if self._row_pos is None:
            end = self._start + key.shape[2]
            k_buf[rows, :, self._start:end] = key          # key: (n, H, q, Dh)
            v_buf[rows, :, self._start:end] = value
        else:
            # (n, H, 1, Dh) -> (n, H, Dh) written at [row_index[i], :, positions[i]]
            k_buf[self._row_index, :, self._row_pos] = key[:, :, 0]
            v_buf[self._row_index, :, self._row_pos] = value[:, :, 0]
        return k_buf[rows, :, : self._read_len], v_buf[rows, :, : self._read_len]

    # ---- slot management ---------------------------------------------------------------
    def move_row(self, src: int, dst: int, length: int) -> None:
        """Copy the first ``length`` slots of row ``src`` into row ``dst`` (compacting a batch)."""
        for buf in (*self.keys, *self.values):
            buf[dst, :, :length] = buf[src, :, :length]

    def nbytes(self) -> int:
        return sum(b.numel() * b.element_size() for b in (*self.keys, *self.values))
