"""A batch against its manifest: the bytes, then the rows, each file's producer stated."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from mlops_lib.landing.manifest import (
    Manifest,
    ManifestError,
    parse_manifest,
    verify_contents,
)
from mlops_lib.validation.bounds import ReadRules, check_bounds
from mlops_lib.validation.reading import DEFAULT_RULES, read_file, row_count
from mlops_lib.validation.reasons import BatchRejected, ReasonCode


def check_manifest(raw_manifest: bytes, prefix: str, files: Sequence[tuple[str, bytes]],
                   fmt: str, rules: ReadRules = DEFAULT_RULES) -> Manifest:
    """Reject a batch whose bytes or row counts differ from its manifest; the manifest, once
    it agrees with the data.

    The bytes (sizes, sha256) are compared first; then the batch's bounds
    (`bounds.check_bounds`: a CSV file whose bytes are right but whose rows are ragged is
    RAGGED_CSV, not a row-count mismatch, and rows are counted only in a batch within its
    limits), then the row counts."""
    try:
        manifest = parse_manifest(raw_manifest)
        verify_contents(manifest, prefix, files)
        check_bounds(files, fmt, rules)
        rows = _row_counts(prefix, files, fmt)
        counted = replace(manifest, entries=tuple(replace(e, size=None, sha256=None)
                                                  for e in manifest.entries))
        verify_contents(counted, prefix, files, rows)
    except ManifestError as exc:
        raise BatchRejected(ReasonCode(exc.code), str(exc)) from exc
    return manifest


def _row_counts(prefix: str, files: Sequence[tuple[str, bytes]], fmt: str) -> dict[str, int]:
    """Rows per file name (the key less `prefix`); an unreadable file raises UNREADABLE_FILE.

    A file the reader takes but the counter does not is left out: it then mismatches any row
    count its manifest entry states."""
    rows = {}
    for key, content in files:
        count = row_count(content, fmt)
        if count is None:  # unreadable: say why (UNREADABLE_FILE), not "None rows"
            read_file(key, content, fmt)
            continue
        rows[key[len(prefix):]] = count
    return rows
