"""A checkpoint directory from a local path or a Hugging Face repo id.

The loaders (:func:`mimo_core.codec.load_audio_tokenizer`, :func:`mimo_core.lm.load_mimo_lm`)
take either; :func:`mimo_core.resolve.resolve_spec` adds the roles' official repos and the
``tiny`` demo checkpoints on top. Torch-free.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import ModelLoadError


def _looks_like_repo_id(spec: str) -> bool:
    parts = spec.split("/")
    return (len(parts) == 2 and all(parts) and not spec.startswith((".", "~"))
            and "\\" not in spec and not any(p in (".", "..") for p in parts))


def download_repo(repo_id: str) -> Path:
    """``snapshot_download`` with its progress bars; any failure -> one-line ModelLoadError."""
    # imported here: huggingface_hub is slow to import and only a download needs it
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (GatedRepoError, HFValidationError, LocalEntryNotFoundError,
                                        RepositoryNotFoundError)

    try:
        return Path(snapshot_download(repo_id))
    except LocalEntryNotFoundError as exc:
        raise ModelLoadError(
            f"cannot download {repo_id!r}: the Hugging Face Hub is unreachable (offline?) and it is "
            "not in the local cache; download it elsewhere and pass its local directory, or use 'tiny'"
        ) from exc
    except GatedRepoError as exc:
        raise ModelLoadError(f"{repo_id!r} is gated: log in with `hf auth login` and accept its terms") from exc
    except RepositoryNotFoundError as exc:
        raise ModelLoadError(f"no Hugging Face repo {repo_id!r} (check the spelling, or pass a local directory)") from exc
    except HFValidationError as exc:
        raise ModelLoadError(f"{repo_id!r} is neither a local directory nor a valid repo id") from exc
    except Exception as exc:  # noqa: BLE001 - network errors of every kind
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot download {repo_id!r}: {first}") from exc


def checkpoint_dir(spec: str | os.PathLike, label: str) -> Path:
    """The local directory of ``spec``: the directory itself, or the repo downloaded into the
    Hugging Face cache. ``label`` names the checkpoint in errors ("audio tokenizer")."""
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"{label} path {spec} is a file; pass its directory")
    text = str(spec)
    if _looks_like_repo_id(text):             # (an absolute path never looks like one)
        return download_repo(text)
    raise ModelLoadError(f"{label} directory not found: {spec} does not exist "
                         "and is not a Hugging Face repo id")
