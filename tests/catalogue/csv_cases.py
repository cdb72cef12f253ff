"""Bad drops of the strict CSV pipeline (tests/e2e/pipelines.py: the house-prices example, a
regression fed as CSV and completed by a manifest). `E2E` is what the end-to-end run lands;
`MORE` the rest of the catalogue."""

from __future__ import annotations

import gzip
import json
import unicodedata

import numpy as np

from mlops_dev.datagen import to_file_bytes
from mlops_lib.landing.manifest import build_manifest
from mlops_lib.spec.source import CsvOptions
from tests.catalogue.cases import Case, Files, Good, Tweak, feature, source

C = Case


def _ragged(g: Good) -> Files:
    lines = g.lines
    ragged = [*lines[:10], lines[10].rsplit(",", 1)[0], *lines[11:]]
    return g.one("\n".join(ragged) + "\n")


def _comma_decimals(g: Good) -> Files:
    return g.one(g.frame.assign(living_area=g.frame["living_area"].map(
        lambda v: f"{v:.1f}".replace(".", ","))))


def _manifest_sha256(g: Good, files: Files) -> bytes:
    sha = build_manifest(files, {g.name: len(g.frame)})
    return sha.replace(sha.split(b'"sha256": "')[1][:8], b"00000000")


E2E = [
    C("header-only", "EMPTY_BATCH", lambda g: g.one(g.lines[0] + "\n")),
    C("comma-decimals", "DTYPE_MISMATCH", _comma_decimals),
    C("non-utf8", "UNREADABLE_FILE",
      lambda g: g.one(g.body.decode().replace("suburb", "faubourg-\u00e9t\u00e9")
                      .encode("latin-1"))),
    C("ragged-csv", "RAGGED_CSV", _ragged),
    C("inf-labels", "TARGET_NOT_FINITE",
      lambda g: g.one(g.frame.assign(price=g.frame["price"].where(g.frame.index % 30 != 0,
                                                                  np.inf)))),
    C("manifest-sha256", "MANIFEST_MISMATCH", lambda g: g.one(g.body), manifest=_manifest_sha256),
    C("manifest-rows", "MANIFEST_MISMATCH", lambda g: g.one(g.body),
      manifest=lambda g, files: build_manifest(files, {g.name: len(g.frame) + 7})),
]


# --- the rest of the catalogue ------------------------------------------------------------------


def _text(g: Good, column: str, value: str, step: int = 25) -> Files:
    """The good CSV with `column`'s cell replaced by the literal text `value` every `step` rows."""
    s = g.frame[column].astype(str)
    return g.one(g.frame.assign(**{column: s.where(s.index % step != 0, value)}))


def _manifest(entries: list[dict[str, object]]) -> bytes:
    return json.dumps({"files": entries}).encode()


def _listed(g: Good, name: str) -> bytes:
    return _manifest([{"name": name, "size": len(g.body)}])


NFC_LABEL = "faubourg-\u00e9t\u00e9"
NFD_LABEL = unicodedata.normalize("NFD", NFC_LABEL)


def _with_nulls(*tokens: str) -> Tweak:
    """The spec with `tokens` as the CSV null cells (`source.csv.null_values`)."""
    return source(csv=CsvOptions(null_values=tokens))


MORE = [
    # Values the model cannot hold; numbers as the wrong type.
    C("float32-overflow-label", "VALUE_OVERFLOW", lambda g: _text(g, "price", "1e39")),
    C("float32-overflow-feature", "VALUE_OVERFLOW", lambda g: _text(g, "living_area", "-1e39")),
    C("int-beyond-int64", "VALUE_OVERFLOW", lambda g: _text(g, "rooms", "99999999999999999999")),
    C("inf-feature-text", "NON_FINITE_FEATURES", lambda g: _text(g, "lot_area", "inf")),
    C("mixed-type-column", "DTYPE_MISMATCH", lambda g: _text(g, "rooms", "three")),
    C("fractional-int", "DTYPE_MISMATCH", lambda g: _text(g, "rooms", "2.5")),
    C("bool-as-yes-no", "DTYPE_MISMATCH", lambda g: _text(g, "has_garage", "yes")),
    C("negative-count", "OUT_OF_RANGE", lambda g: _text(g, "rooms", "-1")),
    C("above-max", "OUT_OF_RANGE", lambda g: _text(g, "age_years", "600")),
    # Null tokens: only the spec's `source.csv.null_values` are nulls.
    C("na-label-not-a-null-token", "DTYPE_MISMATCH", lambda g: _text(g, "price", "NA")),
    C("na-label-null-token", "TARGET_MISSING_VALUES", lambda g: _text(g, "price", "NA"),
      tweak=_with_nulls("", "NA")),
    C("null-label-null-token", "TARGET_MISSING_VALUES", lambda g: _text(g, "price", "null"),
      tweak=_with_nulls("", "null", "NULL")),
    # Encodings, compression and lying extensions.
    C("utf16-csv", "UNREADABLE_FILE", lambda g: g.one(g.body.decode().encode("utf-16"))),
    C("gzip-body-csv", "UNREADABLE_FILE", lambda g: g.one(gzip.compress(g.body, mtime=0))),
    C("csv-gz-file", "UNREADABLE_FILE",
      lambda g: {"part-0000.csv.gz": gzip.compress(g.body, mtime=0)}),
    C("parquet-named-csv", "UNREADABLE_FILE",
      lambda g: g.one(to_file_bytes(g.frame, "parquet"))),
    C("semicolon-delimiter", "MISSING_COLUMNS",
      lambda g: g.one(g.frame.to_csv(index=False, sep=";"))),
    C("duplicate-header", "DUPLICATE_COLUMNS",
      lambda g: g.one("\n".join(f"{line},{line.split(',')[0]}" for line in g.lines) + "\n")),
    C("zero-byte-file", "EMPTY_BATCH", lambda g: g.one(b"")),
    # Category labels: not the spec's text (no tolerance here: UNKNOWN_CATEGORIES).
    C("padded-category", "UNKNOWN_CATEGORIES", lambda g: _text(g, "neighbourhood", " suburb")),
    C("capitalised-category", "UNKNOWN_CATEGORIES",
      lambda g: _text(g, "neighbourhood", "Suburb")),
    C("nfd-category", "UNKNOWN_CATEGORIES",
      lambda g: g.one(g.body.decode().replace(NFC_LABEL, NFD_LABEL)),
      tweak=feature("neighbourhood", categories=("centre", NFC_LABEL, "rural"))),
    # Bounded input.
    C("csv-rows-above-source-max-rows", "TOO_MANY_ROWS", lambda g: g.one(g.body),
      tweak=source(max_rows=200)),
    C("csv-decompressed-too-large", "DECOMPRESSED_TOO_LARGE", lambda g: g.one(g.body),
      tweak=source(max_uncompressed_bytes=20_000)),
    # Manifests that say nothing usable.
    C("manifest-not-json", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: b"part-0000.csv\n"),
    C("manifest-utf16", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: build_manifest(files, {g.name: 300}).decode().encode("utf-16")),
    C("manifest-a-list", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: b'["part-0000.csv"]'),
    C("manifest-empty-files", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: _manifest([])),
    C("manifest-lists-a-file-twice", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: _manifest([{"name": g.name}, {"name": "./" + g.name}])),
    C("manifest-dotdot-name", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: _listed(g, "../" + g.name)),
    C("manifest-hidden-name", "MANIFEST_INVALID", lambda g: {".part-0000.csv": g.body},
      manifest=lambda g, files: _listed(g, ".part-0000.csv")),
    C("manifest-bidi-name", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: _listed(g, "part\u202e-0000.csv")),
    C("manifest-name-that-cannot-land", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: _manifest([{"name": g.name}, {"name": "x" * 1100}])),
    C("manifest-short-sha256", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: _manifest([{"name": g.name, "sha256": "abc"}])),
    C("manifest-negative-rows", "MANIFEST_INVALID", lambda g: g.one(g.body),
      manifest=lambda g, files: _manifest([{"name": g.name, "rows": -1}])),
]
