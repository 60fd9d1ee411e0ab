"""Reading the release's flat ``config.json`` files into typed dataclasses.

Both configs (audio tokenizer, LM) are dataclasses whose field names are the json keys, with an
``extra`` dict holding any key they do not model, so a config round-trips unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .errors import ModelLoadError

EXTRA = "extra"


def read_config_json(path: str | Path, what: str) -> dict[str, Any]:
    """The parsed json object at ``path``; a clear ModelLoadError naming ``what`` otherwise."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read {what} config {path}: {exc}") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{what} config {path} is not a json object")
    return data


def split_known(cls, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(keys that are fields of dataclass ``cls``, every other key)."""
    names = {f.name for f in dataclasses.fields(cls)} - {EXTRA}
    known = {k: v for k, v in data.items() if k in names}
    extra = {k: v for k, v in data.items() if k not in names}
    return known, extra


def field_values(obj) -> dict[str, Any]:
    """The dataclass instance's modelled fields (not ``extra``) as a dict."""
    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.name != EXTRA}


def parse_dashed_ints(value: str | int | Sequence[int], length: int, what: str = "config value",
                      error: type[Exception] = ModelLoadError) -> tuple[int, ...]:
    """A per-channel list as the release writes it: ``"1025-1025-129"`` -> (1025, 1025, 129).

    A bare value (an int, or a string without "-") applies to all ``length`` entries; a
    sequence of ints is taken as is. Anything else, or a list of another length, raises
    ``error`` with one readable line naming ``what``.
    """
    try:
        if isinstance(value, str) and "-" in value:
            parsed = tuple(int(part) for part in value.split("-"))
        elif isinstance(value, (str, int)):
            parsed = (int(value),) * length
        else:
            parsed = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        raise error(f"cannot parse {what} {value!r} as a list of integers") from None
    if len(parsed) != length:
        raise error(f"{what} {value!r} has {len(parsed)} entries, expected {length}")
    return parsed
