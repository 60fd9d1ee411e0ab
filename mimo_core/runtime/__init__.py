"""The models' lifecycle, apart from what tasks mean: which dtype (:mod:`.dtypes`), where
each model goes and whether Base and Instruct both fit (:mod:`.placement`), loading a model
and wiring it to serve (:mod:`.loading`, :class:`LoadedLM`), the schedulers in front of an
engine (:mod:`.schedulers`), Base and Instruct taking turns (:mod:`.swapper`), the status
report (:mod:`.status`); :class:`ModelManager` holds them together for the task facade.

Importing this package costs torch, not the model stack (transformers): that is imported by
the first model load (:mod:`.loading`).
"""

from .loaded import LoadedLM
from .manager import ModelManager

__all__ = ["LoadedLM", "ModelManager"]
