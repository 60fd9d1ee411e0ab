"""The one context-length rule: a prompt fits when it leaves room for at least one generated
group (prompt groups < context groups; docs/FORMAT.md section 7). Used by the prompt builder,
the task layer and the option resolver; the engine applies the same edge to what it is sent."""

from __future__ import annotations

from .constants import MAX_CONTEXT_GROUPS
from .errors import InputTooLongError


def context_room(prompt_groups: int, context_groups: int = MAX_CONTEXT_GROUPS) -> int:
    """Groups that can still be generated after a prompt of ``prompt_groups``."""
    return context_groups - prompt_groups


def check_context(prompt_groups: int, context_groups: int = MAX_CONTEXT_GROUPS) -> None:
    """InputTooLongError unless the prompt leaves room for one generated group."""
    if context_room(prompt_groups, context_groups) < 1:
        raise InputTooLongError(
            f"the prompt is {prompt_groups} LM positions long, at or over the limit of {context_groups} "
            f"(shorten the inputs or start a new conversation)")
