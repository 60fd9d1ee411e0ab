"""MiMo-Audio Studio model core: audio tokenizer, LM, generation engine, prompts, tasks.

This package never imports gradio; the web app lives in ``app/``.
"""

__version__ = "0.1.0"
