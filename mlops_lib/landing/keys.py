"""Object keys a producer may land, and names derived from them that stay where they belong.

S3 takes nearly any string as a key; a key that means a path somewhere else (`..`, `/x`, `a//b`),
carries control, format or separator characters (log and terminal injection, broken CSV reports,
text that reads other than it is) or exceeds S3's own 1024-byte limit is refused before any of
its bytes are read. Pure and pandas-free: the triggerer and the tasks both import it.
"""

from __future__ import annotations

import hashlib
import unicodedata

MAX_KEY_BYTES = 1024  # S3's limit on a key, in bytes of UTF-8

# Unicode categories refused in a key. Cc: control characters (C0, DEL, C1). Cf: format
# characters, invisible but active: bidi overrides and isolates (U+202A-U+202E, U+2066-U+2069)
# make a key read other than it is, zero-width ones (U+200B-U+200D, U+FEFF) make two keys look
# alike. Zl, Zp: U+2028 and U+2029, which many log viewers, editors and JSON-in-JS readers take
# as line breaks, so one log line becomes two. Cn: unassigned code points and noncharacters
# (U+FFFE, ...): what they will mean is unknown. Lone surrogates (Cs) are not UTF-8 and fail
# the encoding check. Private-use characters (Co) stay allowed: assigned, visible as a glyph or
# a box, with no effect on the text around them.
_REFUSED_CATEGORIES = {
    "Cc": "control character", "Cf": "format character", "Zl": "line separator",
    "Zp": "paragraph separator", "Cn": "unassigned code point",
}


def unsafe_key_reason(key: str) -> str | None:
    """Why `key` (the full object key, after the bucket) is unsafe, or None if it is fine.

    Unsafe: empty, longer than 1024 bytes of UTF-8 (or not encodable), a leading `/`, an empty
    segment (`a//b`), a `.` or `..` segment, a control character (C0, DEL, C1: `\\t`, `\\n`,
    `\\r`, `\\x00`, `\\x7f`, ...), a format character (bidi controls such as U+202E,
    zero-width U+200B, U+FEFF, ...), U+2028/U+2029 or an unassigned code point. A trailing `/`
    (a console's "folder" object) is allowed.
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
        refused = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if refused is not None:
            return f"{refused} {char!r} (U+{ord(char):04X})"
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
