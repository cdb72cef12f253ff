"""Object keys a producer may land, and names derived from them that stay where they belong.

S3 takes nearly any string as a key; a key that means a path somewhere else (`..`, `/x`, `a//b`),
carries control characters (log and terminal injection, broken CSV reports) or exceeds S3's own
1024-byte limit is refused before any of its bytes are read. Pure and pandas-free: the triggerer
and the tasks both import it.
"""

from __future__ import annotations

import hashlib
import unicodedata

MAX_KEY_BYTES = 1024  # S3's limit on a key, in bytes of UTF-8


def unsafe_key_reason(key: str) -> str | None:
    """Why `key` (the full object key, after the bucket) is unsafe, or None if it is fine.

    Unsafe: empty, longer than 1024 bytes of UTF-8 (or not encodable), a leading `/`, an empty
    segment (`a//b`), a `.` or `..` segment, or a control character (C0, DEL, C1: `\\t`, `\\n`,
    `\\r`, `\\x00`, `\\x7f`, ...). A trailing `/` (a console's "folder" object) is allowed.
    """
    if not key:
        return "empty key"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "not encodable as UTF-8"
    if size > MAX_KEY_BYTES:
        return f"{size} bytes of UTF-8, more than {MAX_KEY_BYTES}"
    for char in key:
        if unicodedata.category(char) == "Cc":
            return f"control character {char!r}"
    if key.startswith("/"):
        return "leading '/'"
    segments = key.split("/")
    if key.endswith("/"):
        segments = segments[:-1]
    for segment in segments:
        if segment in (".", ".."):
            return f"{segment!r} path segment"
        if not segment:
            return "empty path segment ('//')"
    return None


def safe_name(name: str, *, fallback: str) -> str:
    """`name` when it is a safe relative key, else `hashed_name(name, fallback)`.

    Used to derive keys under a quarantine folder that cannot point anywhere else."""
    if unsafe_key_reason(name) is None and not name.endswith("/"):
        return name
    return hashed_name(name, fallback)


def safe_segment(name: str, *, fallback: str) -> str:
    """Like `safe_name`, but one path segment (no `/`) of at most 200 bytes."""
    if "/" not in name and len(name.encode("utf-8", "surrogatepass")) <= 200:
        return safe_name(name, fallback=fallback)
    return hashed_name(name, fallback)


def hashed_name(name: str, fallback: str) -> str:
    """`<fallback>-<first 12 hex digits of the sha256 of name>`: safe whatever `name` holds."""
    return f"{fallback}-{hashlib.sha256(name.encode('utf-8', 'surrogatepass')).hexdigest()[:12]}"
