"""Named UI updates: what one event shows in its output widgets, by widget name.

A tab's event returns one value per output widget, in the order it was wired. An update type
names those values: ``AudioUpdate(text="hi", status="Done.")`` sets two widgets and leaves the
others as they are (each field not given is a fresh ``gr.skip()``). It is a tuple in field
order, which is what gradio takes, with each field readable by name (``update.status``);
``update.only(names)`` is the tuple for an event wired to some of the fields.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any, ClassVar, Iterable

import gradio as gr


class UiUpdate(tuple):
    """Base of the update types: a subclass declares its fields as annotations, in order."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.FIELDS = tuple(cls.__dict__.get("__annotations__", {}))
        for index, name in enumerate(cls.FIELDS):
            setattr(cls, name, property(itemgetter(index), doc=f"the {name} widget's value"))

    def __new__(cls, **values: Any) -> "UiUpdate":
        unknown = set(values).difference(cls.FIELDS)
        if unknown:
            raise TypeError(f"{cls.__name__} has no field {', '.join(sorted(unknown))}; "
                            f"its fields: {', '.join(cls.FIELDS)}")
        return super().__new__(cls, tuple(values[n] if n in values else gr.skip() for n in cls.FIELDS))

    def __getnewargs_ex__(self) -> tuple[tuple, dict]:      # copy and pickle rebuild it by name
        return (), dict(zip(self.FIELDS, self))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={v!r}' for n, v in zip(self.FIELDS, self))})"

    def only(self, names: Iterable[str]) -> tuple:
        """The values of ``names``, in that order (an event wired to those widgets)."""
        return tuple(getattr(self, name) for name in names)
