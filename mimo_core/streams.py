"""The one way to consume a stream to its end.

Every stream here ends with its outcome as its last item: a scheduler handle or a
``GenerationStream`` yields GroupEvents and then the ``GenerationResult``; a backend's
``stream(request)`` yields StreamEvents, the last one carrying the ``TaskResult``. So running
something to its end is :func:`drain`, written once, for all of them (torch-free: the remote
backend and the app use it too).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

T = TypeVar("T")


def drain(stream: Iterable[T]) -> T:
    """Iterate ``stream`` to its end and return its last item (its outcome)."""
    nothing = last = object()
    for last in stream:
        pass
    if last is nothing:
        raise RuntimeError("the stream ended without its final item")
    return last  # type: ignore[return-value]
