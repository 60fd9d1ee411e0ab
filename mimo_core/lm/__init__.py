"""The MiMo-Audio language model: config, modules with the official state-dict names, loading."""

from .config import MimoLMConfig
from .loading import load_mimo_lm
from .modules import MimoAudioLM

__all__ = ["MimoAudioLM", "MimoLMConfig", "load_mimo_lm"]
