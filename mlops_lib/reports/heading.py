"""A heading on each Evidently HTML report: which pipeline, which run or batch, and what its
"reference" and "current" columns are.

Evidently's page says "Reference" and "Current" and nothing else; opened from a link, a
report could be any run's. The heading is a `<title>` (the browser tab, bookmarks) and a block
at the top of the body, written into the HTML file before it is stored anywhere, so the copy on
S3 and the one in MLflow say the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

_MARK = "ct-report-heading"
_STYLE = ("font-family: system-ui, sans-serif; margin: 0.8em 1.2em; padding: 0.6em 1em; "
          "border-left: 4px solid #4a7ebb; background: #f4f7fb; color: #222")


@dataclass(frozen=True)
class ReportHeading:
    title: str  # e.g. "credit_default: data drift of run manual__2026-12-05T02:20"
    reference: str | None  # what the reference data is; None when the report has none
    current: str
    notes: tuple[str, ...] = ()  # what a reader must know to read it (where it may disagree)

    def html(self) -> str:
        lines = [f"<h2 style='margin:0 0 0.3em 0'>{escape(self.title)}</h2>"]
        if self.reference is not None:
            lines.append(f"<div><b>Reference:</b> {escape(self.reference)}</div>")
        lines.append(f"<div><b>Current:</b> {escape(self.current)}</div>")
        if self.notes:
            items = "".join(f"<li>{escape(note)}</li>" for note in self.notes)
            lines.append(f"<div class='ct-report-notes'><b>Notes:</b><ul "
                         f"style='margin:0.2em 0'>{items}</ul></div>")
        return f"<header id='{_MARK}' style='{_STYLE}'>{''.join(lines)}</header>"


def with_heading(page: str, heading: ReportHeading) -> str:
    """`page` with the heading's title and block; a page headed before gets the new one."""
    page = re.sub(rf"<header id='{_MARK}'.*?</header>", "", page, count=1, flags=re.S)
    title = f"<title>{escape(heading.title)}</title>"
    if re.search(r"<title>.*?</title>", page, flags=re.S | re.I):
        page = re.sub(r"<title>.*?</title>", lambda _: title, page, count=1, flags=re.S | re.I)
    elif re.search(r"<head[^>]*>", page, flags=re.I):
        page = re.sub(r"(<head[^>]*>)", lambda m: m.group(1) + title, page, count=1,
                      flags=re.I)
    else:
        page = title + page
    body = re.search(r"<body[^>]*>", page, flags=re.I)
    at = body.end() if body else page.find(title) + len(title)
    return page[:at] + heading.html() + page[at:]


def add_heading(path: Path, heading: ReportHeading) -> None:
    """Write the heading into an HTML report file, in place."""
    path.write_text(with_heading(path.read_text(encoding="utf-8"), heading), encoding="utf-8")
