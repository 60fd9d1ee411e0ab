"""The one context-length rule: a prompt fits when it leaves room for at least one generated
group (prompt groups < context groups; docs/FORMAT.md section 7).

The limit is the model's, worked out once from its config (:func:`model_context_groups`) when
its engine is built; the task layer passes that engine's ``context_groups`` to planning, which
checks a built prompt against it (:func:`check_context`), and to the option resolver, which
caps a reply's length by the room left (:func:`context_room`). The engine checks the request
it is sent against the same number when it is submitted.
"""

from __future__ import annotations

from .constants import MAX_CONTEXT_GROUPS
from .errors import InputTooLongError


def model_context_groups(config) -> int:
    """An LM's context in groups: the release's 8192, or its ``max_position_embeddings`` if smaller."""
    return min(MAX_CONTEXT_GROUPS, int(config.max_position_embeddings))


def context_room(prompt_groups: int, context_groups: int) -> int:
    """Groups that can still be generated after a prompt of ``prompt_groups``."""
    return context_groups - prompt_groups


def check_context(prompt_groups: int, context_groups: int) -> None:
    """InputTooLongError unless the prompt leaves room for one generated group."""
    if context_room(prompt_groups, context_groups) < 1:
        raise InputTooLongError(
            f"the prompt is {prompt_groups} LM positions long, at or over the limit of {context_groups} "
            f"(shorten the inputs or start a new conversation)")
