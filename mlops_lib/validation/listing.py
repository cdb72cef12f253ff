"""Checks on a batch's object listing, before a byte of it is downloaded (light: no pandas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlops_lib.landing.keys import MAX_KEY_BYTES, unsafe_key_reason
from mlops_lib.validation.reasons import ReasonCode
from mlops_lib.validation.report import CheckResult, ValidationReport

if TYPE_CHECKING:
    from mlops_lib.landing.batches import BatchRef
    from mlops_lib.spec import PipelineSpec


def check_listing(batch: BatchRef, spec: PipelineSpec) -> None:
    """Refuse a batch on its listing alone, before a byte of it is downloaded.

    Every key (the batch folder, its data files, its marker) must be safe
    (`mlops_lib.landing.keys.unsafe_key_reason`; else UNSAFE_KEY) and every data file at most
    `source.max_file_bytes` by its listed size (else FILE_TOO_LARGE). Raises BatchRejected
    with a report holding both checks.
    """
    checks = [_check_safe_keys(batch), _check_file_sizes(batch, spec.source.max_file_bytes)]
    ValidationReport(spec.name, batch.batch_id, 0, checks).raise_for_failures()


def _check_safe_keys(batch: BatchRef) -> CheckResult:
    keys = [batch.prefix, *(f.key for f in batch.files)]
    keys += [batch.marker_key] if batch.marker_key else []
    unsafe = [(key, why) for key in keys if (why := unsafe_key_reason(key)) is not None]
    return CheckResult(
        "safe_keys", not unsafe,
        f"{len(unsafe)} unsafe object keys, first {_show_key(unsafe[0][0])}: {unsafe[0][1]}"
        if unsafe else f"{len(keys)} keys are safe",
        "no `.`/`..` or empty segment, no leading '/', no control, format, separator or "
        "unassigned character, at most "
        f"{MAX_KEY_BYTES} bytes of UTF-8", ReasonCode.UNSAFE_KEY, value=len(unsafe),
        threshold=0)


def _check_file_sizes(batch: BatchRef, limit: int) -> CheckResult:
    large = [f for f in batch.files if f.size > limit]
    biggest = max(large, key=lambda f: f.size) if large else None
    return CheckResult(
        "max_file_bytes", biggest is None,
        f"{len(large)} of {len(batch.files)} files above the limit of {limit} bytes, the "
        f"largest {_show_key(biggest.key)} of {biggest.size} bytes" if biggest
        else f"{len(batch.files)} files within the limit",
        f"each file at most {limit} bytes (source.max_file_bytes)", ReasonCode.FILE_TOO_LARGE,
        value=None if biggest is None else biggest.size, threshold=limit)


def _show_key(key: str, limit: int = 120) -> str:
    """A key for a message: repr'd (control characters escaped) and cut short."""
    shown = repr(key)
    return shown if len(shown) <= limit else f"{shown[:limit]}...({len(key)} characters)"
