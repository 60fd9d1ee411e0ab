"""Sampler settings, whole and partial, and the one table of generation options (docs/FORMAT.md
section 7). Torch-free and gradio-free: the CLI parser, the engine, the web app and the remote
clients all read it.

* :class:`SamplerConfig`: one whole sampler, what the engine runs (``mimo_core.engine.sampling``
  re-exports it); :data:`GREEDY` is argmax.
* :class:`SamplerOverride`: the fields of one sampler a request sets (None = the task's);
  ``override.over(base)`` is the sampler that runs.
* :data:`OPTIONS`: every option of :class:`~mimo_core.tasks.types.GenerationOptions` once, as
  an :class:`Option`: its kind, where it lives, its bounds, its help, and its name on each
  surface (CLI flag, web input, HTTP field, what remote clients send). The sampler options come
  from :data:`SAMPLER_FIELDS`, one row per field for both samplers.
* :func:`check_options`: the one validation of those bounds (planning calls it for every
  request; the OpenAI parser calls it to name the offending field). ``SamplerConfig`` holds
  itself to the same bounds.

Adding a sampler option: a field of ``SamplerConfig`` and ``SamplerOverride`` and a
:class:`SamplerField` row here, its maths in ``mimo_core.engine.sampling``, and the README's
options table regenerated (``python -m mimo_core.tasks.table options``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Mapping, Optional

from .errors import PromptError

SIDES = ("text", "audio")          # the two samplers: global (text token), local (patch decoder)
MAX_SEED = 2**63 - 1               # what the engine draws when no seed is given: secrets.randbits(63)


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Bounds:
    """Allowed values of a number: ``low`` (excluded when ``open_low``) to ``high``, inclusive."""

    low: Optional[float] = None
    high: Optional[float] = None
    open_low: bool = False

    def holds(self, value: Any) -> bool:
        above = self.low is None or (value > self.low if self.open_low else value >= self.low)
        return bool(above and (self.high is None or value <= self.high))     # NaN holds nowhere

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {_num(self.low)}"
        return f"in {'(' if self.open_low else '['}{_num(self.low)}, {_num(self.high)}]"


class OptionError(PromptError):
    """A value outside its option's bounds; ``name`` is the option's (or sampler field's) name."""

    def __init__(self, name: str, what: str, bounds: Bounds, value: Any, hint: str = ""):
        self.name, self.bounds, self.value = name, bounds, value
        super().__init__(f"{what} must be {bounds}{hint}, got {_num(value)}")


# ----------------------------------------------------------------------------- samplers
@dataclass(frozen=True)
class SamplerField:
    """One setting of a sampler, for both samplers: a field of :class:`SamplerConfig` and of
    :class:`SamplerOverride` of the same name.

    ``off``: the request value that turns it off (None in ``SamplerConfig``; remote clients send
    it for None); ``zero_is_greedy``: on the HTTP API 0 means argmax for that sampler; ``ui``: a
    web input of its own; ``label``: its words in help, labels and messages.
    """

    name: str
    kind: type
    bounds: Bounds
    label: str
    help: str
    off: Any = None
    zero_is_greedy: bool = False
    ui: bool = False

    def hint(self) -> str:
        if self.zero_is_greedy:
            return " (use greedy for argmax)"
        return f" ({self.off} = off)" if self.off is not None else ""

    def to_config(self, value: Any) -> Any:
        """A request's value as ``SamplerConfig`` holds it (the off value becomes None)."""
        return None if self.off is not None and value == self.off else self.kind(value)


SAMPLER_FIELDS = (
    SamplerField("temperature", float, Bounds(0, open_low=True), "temperature", "sampling temperature",
                 zero_is_greedy=True, ui=True),
    SamplerField("top_k", int, Bounds(0), "top-k", "top-k (0 = off)", off=0),
    SamplerField("top_p", float, Bounds(0, 1, open_low=True), "top-p", "top-p", ui=True),
)


@dataclass(frozen=True)
class SamplerConfig:
    """One sampler: temperature, then top-k (None = off), then top-p; ``greedy`` = argmax."""

    temperature: float = 1.0
    top_k: int | None = None
    top_p: float = 1.0
    greedy: bool = False

    def __post_init__(self):
        for f in SAMPLER_FIELDS:
            value = getattr(self, f.name)
            if (self.greedy and f.zero_is_greedy) or (value is None and f.off is not None):
                continue
            if f.off is not None and value == f.off:
                raise PromptError(f"a sampler's {f.label} is off as None, not {f.off}")
            if value is None or not f.bounds.holds(value):
                raise OptionError(f.name, f"sampler {f.label}", f.bounds, value, f.hint())


GREEDY = SamplerConfig(greedy=True)


@dataclass(frozen=True)
class SamplerOverride:
    """What a request sets of one sampler; None = the task's. ``greedy``: argmax (wins over the
    other fields); False leaves the task's choice."""

    temperature: Optional[float] = None
    top_k: Optional[int] = None               # 0 = off
    top_p: Optional[float] = None
    greedy: bool = False

    def over(self, base: SamplerConfig) -> SamplerConfig:
        """``base`` with these fields set; setting any field samples (a greedy base included)."""
        if self.greedy:
            return GREEDY
        changed = {f.name: f.to_config(value) for f in SAMPLER_FIELDS
                   if (value := getattr(self, f.name)) is not None}
        return replace(base, greedy=False, **changed) if changed else base


# ------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class Option:
    """One generation option and its name on every surface.

    ``name``: its flat name (``GenerationOptions.from_flat``, the CLI's dest); ``sampler``:
    "text" / "audio" for a :class:`SamplerOverride` field (``attr``), None for a field of
    ``GenerationOptions`` itself. ``cli``: the flag (None = not on the command line);
    ``ui``: the web input's name (None = no widget), ``ui_label`` its label, ``ui_seconds``: it
    takes seconds (converted to groups), ``ui_value``: the TaskSpec attribute holding its initial
    value; ``api``: the HTTP fields that set it (the first given wins); ``wire``: the field a
    remote client sends it in (the resolved value; None = not sent).
    """

    name: str
    kind: type
    help: str
    what: str                                  # its words in error messages
    attr: str = ""
    sampler: Optional[str] = None
    field: Optional[SamplerField] = None
    bounds: Optional[Bounds] = None
    cli: Optional[str] = None
    ui: Optional[str] = None
    ui_label: str = ""
    ui_seconds: bool = False
    ui_value: Optional[str] = None
    api: tuple[str, ...] = ()
    wire: Optional[str] = None

    def get(self, options: Any) -> Any:
        """Its value in a ``GenerationOptions`` (or a holder with the same fields)."""
        holder = getattr(options, self.sampler) if self.sampler else options
        return getattr(holder, self.attr or self.name)

    def hint(self) -> str:
        return self.field.hint() if self.field is not None else ""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _general(name: str, kind: type, help: str, bounds: Optional[Bounds] = None, *, cli: Optional[str] = "",
             **names: Any) -> Option:
    """An option of ``GenerationOptions`` itself; ``cli`` "" = ``--name-with-dashes``."""
    return Option(name, kind, help, name, bounds=bounds, cli=_flag(name) if cli == "" else cli, **names)


def _sampler_options(side: str) -> tuple[Option, ...]:
    """The options of one sampler: one per :data:`SAMPLER_FIELDS` row, then its own greedy.
    The text sampler's HTTP fields are OpenAI's own names (``temperature``), the audio
    sampler's are prefixed (``audio_temperature``)."""
    prefix = "" if side == "text" else f"{side}_"
    zero = next(prefix + f.name for f in SAMPLER_FIELDS if f.zero_is_greedy)
    made = []
    for f in SAMPLER_FIELDS:
        name, http = f"{side}_{f.name}", prefix + f.name
        made.append(Option(name, f.kind, f"{side} {f.help}", f"{side} {f.label}", attr=f.name, sampler=side,
                           field=f, bounds=f.bounds, cli=_flag(name),
                           ui=name if f.ui else None, ui_label=f"{side.capitalize()} {f.label}",
                           api=(http,), wire=http))
    made.append(Option(f"{side}_greedy", bool, f"argmax for the {side} sampler alone (on the HTTP API: "
                       f"{zero} 0)", f"{side} greedy", attr="greedy", sampler=side))
    return tuple(made)


OPTIONS: tuple[Option, ...] = (
    _general("greedy", bool, "argmax decoding for text and audio", ui="greedy",
             ui_label="Greedy (no sampling)", api=("greedy",)),
    _general("seed", int, "seed for reproducible sampling", Bounds(0, MAX_SEED), ui="seed",
             ui_label="Seed (empty = random)", api=("seed",), wire="seed"),
    _general("min_new_groups", int, "the fewest generated groups before a stop token may end generation",
             Bounds(0), cli=None, ui="min_seconds", ui_seconds=True,
             ui_label="Minimum length, seconds (empty = task default)", api=("min_tokens",), wire="min_tokens"),
    _general("max_new_groups", int, "stop after this many generated groups (1 group = 4 codec frames = 0.16 s)",
             Bounds(1), ui="max_seconds", ui_seconds=True, ui_value="ui_max_seconds",
             ui_label="Maximum length, seconds (empty = until the model stops)",
             api=("max_completion_tokens", "max_tokens"), wire="max_tokens"),
    *(option for side in SIDES for option in _sampler_options(side)),
)
BY_NAME: dict[str, Option] = {option.name: option for option in OPTIONS}


def check_options(options: Any) -> None:
    """Reject a ``GenerationOptions`` value outside its option's bounds (:class:`OptionError`,
    one line naming it), before anything runs."""
    for option in OPTIONS:
        value = option.get(options)
        if option.bounds is not None and value is not None and not option.bounds.holds(value):
            raise OptionError(option.name, option.what, option.bounds, value, option.hint())


def nest(values: Mapping[str, Any]) -> dict[str, Any]:
    """Flat option names (``text_temperature=0.7``) -> ``GenerationOptions`` keyword arguments
    (``text=SamplerOverride(temperature=0.7)``); None values are left at their defaults."""
    unknown = set(values) - set(BY_NAME)
    if unknown:
        raise TypeError(f"unknown generation options: {', '.join(sorted(unknown))}")
    top: dict[str, Any] = {}
    samplers: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        if value is None:
            continue
        option = BY_NAME[name]
        where = samplers.setdefault(option.sampler, {}) if option.sampler else top
        where[option.attr or option.name] = value
    return {**top, **{side: SamplerOverride(**kw) for side, kw in samplers.items()}}


def _check_table() -> None:
    """Every sampler field is a field of both sampler types, and the other way round."""
    declared = {f.name for f in SAMPLER_FIELDS} | {"greedy"}
    for cls in (SamplerConfig, SamplerOverride):
        if {f.name for f in fields(cls)} != declared:
            raise AssertionError(f"{cls.__name__} fields != SAMPLER_FIELDS + greedy")
    if len(BY_NAME) != len(OPTIONS):
        raise AssertionError("two options share a name")


_check_table()
