"""MiMo-Audio Studio web app (Gradio): every task in its own tab, streaming, per-session history.

``build_app(handlers)`` lays out the UI; :class:`app.handlers.Handlers` turns widget values into
``mimo_core.tasks`` requests for a backend that owns the model (:mod:`app.backend`);
:mod:`app.launch` is the ``app`` command of ``run_mimo_audio.py``. This package never imports
torch: the model is reached only through ``mimo_core``.
"""

__all__ = ["Handlers", "build_app"]


def __getattr__(name):
    # Lazy: `run_mimo_audio.py tts ...` imports app.launch to register the `app` command and
    # must not pay for importing gradio; only the UI itself needs it.
    if name == "Handlers":
        from .handlers import Handlers
        return Handlers
    if name == "build_app":
        from .ui import build_app
        return build_app
    raise AttributeError(f"module 'app' has no attribute {name!r}")
