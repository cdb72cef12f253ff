"""YAML text of plain data with a comment beside chosen keys: what `mlops contract infer` prints,
each inferred rule with the evidence behind it.

PyYAML cannot emit comments, so the block structure (mappings, lists of mappings) is laid out
here and every scalar, key and list of scalars is still written by `yaml.safe_dump`, which
quotes what YAML would otherwise misread (`'yes'`, `'a # b'`, `'1'`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

Path = tuple[str | int, ...]  # ("features", 3, "min"): where a value sits in the data
Notes = Mapping[Path, str]

_INDENT = 2


def dump(data: Mapping[str, Any], notes: Notes | None = None) -> str:
    """`data` as block YAML; the note at a value's path is a `# comment` at the end of the line
    that holds its key (a list item's note: a comment line above the item)."""
    lines: list[str] = []
    _mapping(data, (), 0, lines, notes or {})
    return "".join(f"{line}\n" for line in lines)


def _mapping(data: Mapping[str, Any], path: Path, indent: int, lines: list[str],
             notes: Notes) -> None:
    for key, value in data.items():
        here = (*path, key)
        head = f"{' ' * indent}{_flow(key)}:"
        if isinstance(value, Mapping) and value:
            lines.append(_noted(head, notes.get(here)))
            _mapping(value, here, indent + _INDENT, lines, notes)
        elif isinstance(value, list) and any(isinstance(item, Mapping) for item in value):
            lines.append(_noted(head, notes.get(here)))
            _items(value, here, indent + _INDENT, lines, notes)
        else:
            lines.append(_noted(f"{head} {_flow(value)}", notes.get(here)))


def _items(values: list[Any], path: Path, indent: int, lines: list[str], notes: Notes) -> None:
    dash = f"{' ' * indent}- "
    for i, item in enumerate(values):
        here = (*path, i)
        if not isinstance(item, Mapping) or not item:
            lines.append(_noted(f"{dash}{_flow(item)}", notes.get(here)))
            continue
        start = len(lines)
        _mapping(item, here, indent + _INDENT, lines, notes)
        # the item's first key goes on the dash's line, as a YAML writer lays it out
        lines[start] = dash + lines[start][indent + _INDENT:]
        if notes.get(here):
            lines.insert(start, f"{' ' * indent}# {_one_line(notes[here])}")


def _flow(value: Any) -> str:
    """One scalar, or a list or mapping of scalars, on one line."""
    text: str = yaml.safe_dump(value, default_flow_style=True, width=1 << 30,
                               allow_unicode=True)
    return text.removesuffix("\n...\n").rstrip("\n")


def _noted(line: str, note: str | None) -> str:
    return f"{line}  # {_one_line(note)}" if note else line


def _one_line(note: str) -> str:
    return " ".join(note.split())  # a newline would end the comment
