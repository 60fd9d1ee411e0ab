"""Reading the release's flat ``config.json`` files into typed dataclasses.

Both configs (audio tokenizer, LM) are dataclasses whose field names are the json keys, with an
``extra`` dict holding any key they do not model, so a config round-trips unchanged.
"""

from __future__ import annotations

import dataclasses
import json
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
