"""The bad-input catalogue: every kind of bad drop we know, with the reason code it must get.

Two pipelines judge them (tests/e2e/pipelines.py): the strict parquet one (the credit example
with freshness, a tolerance of new categories, extra columns refused, a 1 MB file limit) and
the strict CSV one (house prices, regression, completed by a manifest). A case may change its
pipeline's spec (smaller limits, CSV null tokens, accented categories) with `Case.tweak`.

- `tests/integration/test_bad_input_catalogue.py` runs every case in `CATALOGUE` through the
  ingest steps the DAG's tasks call, on moto's S3 over HTTP and the real store (SQLite, and
  PostgreSQL when CT_TEST_PG is set).
- `tests/e2e/test_bad_inputs.py` lands the `E2E` subset (the cases with no spec change it has
  always landed) on the whole Airflow stack at once.

`ACCEPTED` are edge cases that look bad and are not: each must be accepted. docs/contract.md
("The bad-input catalogue") lists what the catalogue covers.
"""

from __future__ import annotations

from mlops_lib.landing.manifest import build_manifest
from mlops_lib.validation.reasons import ReasonCode
from tests.catalogue import csv_cases, parquet_cases
from tests.catalogue.cases import Case, Files, Good, Tweak
from tests.e2e.pipelines import STRICT_CSV, STRICT_PARQUET

PARQUET, CSV = STRICT_PARQUET, STRICT_CSV

E2E: dict[str, list[Case]] = {PARQUET: parquet_cases.E2E, CSV: csv_cases.E2E}
CATALOGUE: list[tuple[str, Case]] = [
    *((PARQUET, c) for c in [*parquet_cases.E2E, *parquet_cases.MORE]),
    *((CSV, c) for c in [*csv_cases.E2E, *csv_cases.MORE]),
]

# Codes no landed file can earn on its own: a warning, a crash of our code (tests/integration/
# test_ingest_failures.py makes those happen) and a batch id landed again with other content
# (its accepted record stays; tests/integration/test_long_batch_ids.py, test_batch_trigger.py).
NOT_FROM_A_DROP = frozenset({ReasonCode.CONSTANT_COLUMN, ReasonCode.INTERNAL_ERROR,
                             ReasonCode.CONFORM_FAILED, ReasonCode.BATCH_CHANGED})


def _tweak_of(cases: list[Case], batch_id: str) -> Tweak | None:
    """The spec change of a case: its accepted counterpart is judged by the same spec."""
    return next(c.tweak for c in cases if c.batch_id == batch_id)


def _bom_csv(g: Good) -> Files:
    return g.one(b"\xef\xbb\xbf" + g.body)


def _dot_slash_manifest(g: Good, files: Files) -> bytes:
    return build_manifest({"./" + n: b for n, b in files.items()}, {"./" + g.name: 300})


ACCEPTED: list[tuple[str, Case]] = [
    (PARQUET, Case("good-parquet", "", lambda g: g.one(g.body))),
    (PARQUET, Case("nfc-category", "", lambda g: g.one(g.body),
                   tweak=_tweak_of(parquet_cases.MORE, "nfd-category"))),
    (CSV, Case("good-csv", "", lambda g: g.one(g.body))),
    (CSV, Case("utf8-bom-csv", "", _bom_csv)),
    (CSV, Case("manifest-dot-slash-name", "", lambda g: g.one(g.body),
               manifest=_dot_slash_manifest)),
    (CSV, Case("nfc-category-csv", "", lambda g: g.one(g.body),
               tweak=_tweak_of(csv_cases.MORE, "nfd-category"))),
]
