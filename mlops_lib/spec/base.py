"""What every part of a pipeline spec shares: the pydantic config, number types, labels, and
`SpecProblem`, the error a validator raises to say where below its record a value is wrong."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, Strict

# extra="forbid": a misspelt key is an error, not a silent default. coerce_numbers_to_str keeps
# `name: 2020` a valid column name, as str() did before. Docstrings under fields become the
# JSON Schema's descriptions (what an editor shows on hover).
SPEC_CONFIG = ConfigDict(extra="forbid", populate_by_name=True, coerce_numbers_to_str=True,
                         use_attribute_docstrings=True)

# Strict: YAML `true` and `"0.5"` are not numbers; an integer is a number (as 1.0).
Number = Annotated[float, Strict()]
NonNegative = Annotated[float, Strict(), Field(ge=0)]
Positive = Annotated[float, Strict(), Field(gt=0)]
Share = Annotated[float, Strict(), Field(ge=0, le=1)]
Count = Annotated[int, Strict(), Field(ge=1)]
Integer = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]  # true or false, not 'no' (a quoted string)

Loc = tuple[str | int, ...]


class SpecError(ValueError):
    """A pipeline spec is malformed; the message names the file and the key of each problem."""


class SpecProblem(ValueError):
    """Raised by a validator: each problem is (where below the validated record, what)."""

    def __init__(self, *problems: tuple[Loc, str]) -> None:
        super().__init__("; ".join(f"{render_loc(loc)}: {message}" if loc else message
                                   for loc, message in problems))
        self.problems = problems


def problem(at: str | Loc, message: str) -> SpecProblem:
    """One problem at a key (`"min"`) or a path (`("slices", 0, "column")`)."""
    return SpecProblem(((at,) if isinstance(at, str) else at, message))


def raise_problems(problems: Iterable[tuple[Loc, str]]) -> None:
    found = tuple(problems)
    if found:
        raise SpecProblem(*found)


def render_loc(loc: Loc) -> str:
    """('features', 3, 'min') -> 'features[3].min'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def empty_if_none(value: Any) -> Any:
    """An optional section left empty in YAML (`training:`) means its defaults."""
    return {} if value is None else value


OrEmpty = BeforeValidator(empty_if_none)


def labels(value: Any, *, numbers: tuple[type, ...], kinds: str) -> tuple[str, ...]:
    """Category or class labels as text, the form they take at data time. YAML reads an
    unquoted yes/no/true/on as a boolean: refused, as are labels that collide once text."""
    if not isinstance(value, list | tuple):
        raise problem((), f"must be a list of labels, not {value!r}")
    found: list[tuple[Loc, str]] = []
    for i, item in enumerate(value):
        if isinstance(item, bool):
            found.append(((i,), f"{item!r}: labels are {kinds}, and YAML read this one as a "
                                "boolean (an unquoted yes, no, true, false, on or off): quote it"))
        elif not isinstance(item, (str, *numbers)):
            found.append(((i,), f"labels are {kinds}, not {item!r} "
                                f"({type(item).__name__}): quote it"))
    raise_problems(found)
    text = tuple(str(item) for item in value)
    repeated = sorted({label for label in text if text.count(label) > 1})
    if repeated:
        mixed = len(set(map(type, value))) > 1
        raise problem((), f"lists {repeated} more than once" + (
            " (labels are compared as text: 1 and '1' are one label)" if mixed else ""))
    return text
