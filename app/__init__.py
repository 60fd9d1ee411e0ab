"""MiMo-Audio Studio web app (Gradio): every task in its own tab, streaming, per-session history.

``build_app(handlers)`` lays out the UI; :class:`app.handlers.Handlers` turns widget values into
``mimo_core.tasks`` requests for a backend that owns the model (:mod:`app.backend`);
:mod:`app.launch` is the ``app`` command of ``run_mimo_audio.py``. This package never imports
torch: the model is reached only through ``mimo_core``.
"""

from .handlers import Handlers
from .ui import build_app

__all__ = ["Handlers", "build_app"]
