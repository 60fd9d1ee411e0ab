"""Model resolution: turn a model *spec* into a local directory.

A spec is one of
  * a local directory (used as is);
  * a Hugging Face repo id such as ``XiaomiMiMo/MiMo-Audio-7B-Instruct``, downloaded with
    ``huggingface_hub.snapshot_download`` (progress bars on stderr) into the standard HF cache;
  * ``"tiny"``: tiny random checkpoints in the official on-disk format, built once
    (deterministic, seeded) into ``$MIMO_TINY_DIR`` or ``~/.cache/mimo_audio_studio/tiny-v1-<recipe hash>``.
    Their output is noise; everything that resolves ``tiny`` logs a loud warning.

The first two are :func:`mimo_core.hub.checkpoint_dir`, which the loaders use as well.
Three roles: the Instruct LM, the Base LM and the audio tokenizer. The text tokenizer always
lives beside an LM checkpoint.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import threading
from enum import Enum
from pathlib import Path

from .errors import ModelLoadError
from .hub import checkpoint_dir

log = logging.getLogger(__name__)

TINY = "tiny"
TINY_VERSION = "tiny-v1"
TINY_SEED = 0
_TINY_MARKER = "TINY_COMPLETE"        # written last inside the temp dir, before the rename
_VOCAB_MULTIPLE = 64                  # tiny LM vocab = len(text tokenizer) rounded up to this
_TINY_EMPTY_ROW_NORM = 15.0           # lm_head row norms (typical random rows: about 0.8)
_TINY_STOP_ROW_NORM = 1.3            # <|endoftext|>, <|im_end|>, <|eostm|>, <|eot|>, <|eosp|>
TINY_WARNING = ("USING THE 'tiny' RANDOM MODEL: its output is NOISE (random weights for demos "
                "and tests), not speech or meaningful text")


class Role(str, Enum):
    INSTRUCT = "instruct"
    BASE = "base"
    TOKENIZER = "tokenizer"


DEFAULT_SPECS = {
    Role.INSTRUCT: "XiaomiMiMo/MiMo-Audio-7B-Instruct",
    Role.BASE: "XiaomiMiMo/MiMo-Audio-7B-Base",
    Role.TOKENIZER: "XiaomiMiMo/MiMo-Audio-Tokenizer",
}

_LABELS = {Role.INSTRUCT: "Instruct model", Role.BASE: "Base model", Role.TOKENIZER: "audio tokenizer"}
_TINY_SUBDIR = {Role.INSTRUCT: "lm", Role.BASE: "lm", Role.TOKENIZER: "audio_tokenizer"}
_build_lock = threading.Lock()


def is_tiny(spec) -> bool:
    return isinstance(spec, str) and spec.strip().lower() == TINY


def warn_tiny(what: str = "") -> None:
    """Log the loud 'this is noise' warning (every time tiny weights are used)."""
    log.warning("%s%s", TINY_WARNING, f" [{what}]" if what else "")


def tiny_root() -> Path:
    """Where the tiny checkpoints live: ``$MIMO_TINY_DIR`` or the per-user cache."""
    env = os.environ.get("MIMO_TINY_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "mimo_audio_studio" / f"{TINY_VERSION}-{tiny_recipe_hash()}"


def tiny_recipe_hash() -> str:
    """A short hash of the code that writes the tiny checkpoints, so a cache built by an
    older recipe is never reused after an upgrade (it is rebuilt beside it instead)."""
    here = Path(__file__).resolve().parent
    digest = hashlib.sha256()
    for rel in ("resolve.py", "lm/tiny.py", "codec/tiny.py", "text/tiny_tokenizer.py"):
        digest.update((here / rel).read_bytes())
    return digest.hexdigest()[:10]


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def _write_tiny_tree(out: Path, seed: int) -> None:
    """Write text tokenizer + tiny LM into ``out/lm`` and the tiny audio tokenizer into
    ``out/audio_tokenizer``. The Base and Instruct roles share the same random LM."""
    # the writers import torch: imported by a build, so that resolving a spec stays light
    from .codec.tiny import write_tiny_audio_tokenizer
    from .lm.tiny import write_tiny_lm
    from .text.tiny_tokenizer import write_tiny_text_tokenizer
    from .text import load_text_tokenizer

    lm_dir = out / _TINY_SUBDIR[Role.INSTRUCT]
    lm_dir.mkdir(parents=True)
    write_tiny_text_tokenizer(lm_dir)
    tokenizer, ids = load_text_tokenizer(lm_dir)
    vocab_size = _round_up(len(tokenizer), _VOCAB_MULTIPLE)
    # After the golden fixture's recipe: a strong <|empty|> row makes many steps speak (so the
    # patch decoder and the audio path run); mildly raised stop rows end most outputs by
    # themselves within a few hundred groups (stronger ones end them at once).
    row_norms = {ids.empty: _TINY_EMPTY_ROW_NORM,
                 **{i: _TINY_STOP_ROW_NORM for i in (ids.eostm, ids.im_end, ids.eot, ids.endoftext, ids.eosp)}}
    write_tiny_lm(lm_dir, vocab_size=vocab_size, seed=seed, row_norms=row_norms)
    codec_dir = out / _TINY_SUBDIR[Role.TOKENIZER]
    codec_dir.mkdir(parents=True)
    write_tiny_audio_tokenizer(codec_dir, seed=seed)


def ensure_tiny(root: Path | None = None, seed: int = TINY_SEED) -> Path:
    """Build the tiny checkpoints once (atomically: temp dir, then rename) and return the root.

    A complete tree carries a marker file; a partial one (a crash mid-build) is never used
    because it only ever exists under a temporary name.
    """
    root = Path(root) if root is not None else tiny_root()
    if (root / _TINY_MARKER).is_file():
        return root
    with _build_lock:
        if (root / _TINY_MARKER).is_file():
            return root
        root.parent.mkdir(parents=True, exist_ok=True)
        log.warning("building the tiny random checkpoints in %s (once)", root)
        tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-", dir=root.parent))
        try:
            _write_tiny_tree(tmp, seed)
            (tmp / _TINY_MARKER).write_text(f"{TINY_VERSION} seed={seed}\n")
            if root.exists():                       # stale, incomplete tree from elsewhere
                shutil.rmtree(root, ignore_errors=True)
            try:
                os.rename(tmp, root)
            except OSError:
                if not (root / _TINY_MARKER).is_file():   # lost a race to a broken tree
                    raise
        except ModelLoadError:
            raise
        except Exception as exc:  # noqa: BLE001 - a failed build is a load error for the user
            raise ModelLoadError(f"cannot build the tiny checkpoints in {root}: {exc}") from exc
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return root


def resolve_spec(spec: str | os.PathLike | None, role: Role | str) -> Path:
    """Return the local directory holding ``role``'s checkpoint for ``spec``.

    ``None`` means the official default repo of that role.
    """
    role = Role(role)
    if spec is None:
        spec = DEFAULT_SPECS[role]
    if is_tiny(spec):
        warn_tiny(role.value)
        return ensure_tiny() / _TINY_SUBDIR[role]
    return checkpoint_dir(spec, _LABELS[role])


def fill_specs(instruct=None, base=None, tokenizer=None, *, official: bool = True) -> tuple:
    """The (instruct, base, tokenizer) specs with the unset roles filled: with ``"tiny"`` when
    any given role is ``tiny`` (the tiny Base and Instruct are the same random weights, and tiny
    never mixes with real checkpoints), otherwise with each role's official repo, or left
    ``None`` when ``official`` is false. The one rule for the CLI, the app and the facade."""
    given = (instruct, base, tokenizer)
    tiny = any(is_tiny(s) for s in given if s)
    return tuple(s if s else (TINY if tiny else (DEFAULT_SPECS[role] if official else None))
                 for s, role in zip(given, (Role.INSTRUCT, Role.BASE, Role.TOKENIZER)))


def same_spec(a, b) -> bool:
    """Whether two specs name the same checkpoint (used to allow Instruct weights as 'base')."""
    if a is None or b is None:
        return False
    if is_tiny(a) or is_tiny(b):
        return is_tiny(a) and is_tiny(b)
    pa, pb = Path(a).expanduser(), Path(b).expanduser()
    if pa.exists() and pb.exists():
        return pa.resolve() == pb.resolve()
    return str(a) == str(b)
