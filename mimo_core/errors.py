"""Typed, user-facing errors.

Every error a user can cause (bad audio, bad text, a missing model) is raised as a
subclass of :class:`MimoError` whose message is one readable line. The CLI prints
that line and exits 1; the web app shows it in a toast and keeps serving.
"""


class MimoError(Exception):
    """Base class of every error meant to be shown to a user as one line."""


class AudioInputError(MimoError):
    """Audio that cannot be used: missing, unreadable, empty, non-finite, too long..."""


class InputTooLongError(MimoError):
    """Text or audio longer than the configured limit."""


class PromptError(MimoError):
    """A request whose text or examples cannot form a valid prompt."""


class ModelLoadError(MimoError):
    """A checkpoint that cannot be found, downloaded or loaded."""


class CheckpointMismatchError(ModelLoadError):
    """A checkpoint whose tensors do not match the module (missing/unexpected/shape)."""


class ModelNotConfiguredError(MimoError):
    """A task needs a model (e.g. the Base LM) that this session was not given."""


class DeviceError(MimoError):
    """A device/dtype/attention backend that is unavailable on this machine."""
