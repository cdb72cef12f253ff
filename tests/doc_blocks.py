"""The shell blocks of README.md and docs/, and what the doc-test does with each.

Every fenced block in a shell language carries a marker on the line above it:

    <!-- doc-test: run -->                              run it, in document order
    <!-- doc-test: run; expect: text | other text -->   ... and its output shows these
    <!-- doc-test: run; check: name -->                 ... then the named check (tests/e2e)
    <!-- doc-test: skip: why -->                        not run here, and why (counted)

tests/unit/test_doc_blocks.py holds every block to having one; tests/e2e/test_demo.py runs the
`run` blocks on the stack `make demo` leaves, and reports each `skip` as a skipped test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHELL_LANGUAGES = ("bash", "sh", "shell", "console")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
_MARKER = re.compile(r"<!--\s*doc-test:\s*(.*?)\s*-->\s*$")


@dataclass(frozen=True)
class DocBlock:
    doc: str          # path from the repository root
    line: int         # the fence's line
    body: str
    marker: str | None  # the marker's text, None when the block has none
    run: bool = False
    skip_reason: str = ""
    expect: tuple[str, ...] = ()
    check: str | None = None

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def problem(self) -> str | None:
        """Why the marker does not say what the doc-test does, or None."""
        if self.marker is None:
            return "no <!-- doc-test: run | skip: why --> marker on the line above"
        if not self.run and not self.skip_reason:
            return f"marker {self.marker!r} is neither `run...` nor `skip: <why>`"
        return None


def doc_files() -> list[Path]:
    """README.md first, then docs/ in path order: the order a reader meets them."""
    return [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


def shell_blocks(path: Path, root: Path = REPO) -> list[DocBlock]:
    text = path.read_text()
    blocks = []
    for fence in _FENCE.finditer(text):
        if fence.group(1) not in SHELL_LANGUAGES:
            continue
        line = text.count("\n", 0, fence.start()) + 1
        before = text[:fence.start()].rstrip("\n").rsplit("\n", 1)[-1]
        found = _MARKER.search(before)
        blocks.append(_block(str(path.relative_to(root)), line, fence.group(2),
                             found.group(1) if found else None))
    return blocks


def _block(doc: str, line: int, body: str, marker: str | None) -> DocBlock:
    block = DocBlock(doc=doc, line=line, body=body, marker=marker)
    if marker is None:
        return block
    if marker.startswith("skip:"):
        return DocBlock(doc, line, body, marker, skip_reason=marker.removeprefix("skip:").strip())
    head, *options = [part.strip() for part in marker.split(";")]
    if head != "run":
        return block
    expect: tuple[str, ...] = ()
    check = None
    for option in options:
        key, _, value = option.partition(":")
        if key.strip() == "expect":
            expect = tuple(v.strip() for v in value.split("|") if v.strip())
        elif key.strip() == "check":
            check = value.strip()
        else:
            return DocBlock(doc, line, body, f"{marker} (unknown option {key.strip()!r})")
    return DocBlock(doc, line, body, marker, run=True, expect=expect, check=check)


def all_blocks() -> list[DocBlock]:
    return [b for path in doc_files() for b in shell_blocks(path)]
