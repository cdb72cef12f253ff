"""The project's metadata store: batches, training runs, decisions, the champion, drift,
model-registration claims, the prediction log, the scoring batches' claims, late labels and
realized performance.

Typed, idempotent writes: every write is keyed (pipeline + batch id or DAG run id) so that a
retried Airflow task finds the row it wrote before instead of writing a second one.
`Store` does no DDL: `mlops store upgrade` (`mlops_lib.stores.migrations`, Alembic) creates
and migrates the tables, and a store that was never upgraded fails on first use saying so.
Each part of the store lives in its own module; `Store` is all of them on one engine.
"""

from __future__ import annotations

from mlops_lib.stores.alerts import AlertRecord, AlertTables, ReplayRecord
from mlops_lib.stores.batches import BatchTables
from mlops_lib.stores.champion import DecisionTables
from mlops_lib.stores.claims import ClaimTables, ModelClaim
from mlops_lib.stores.database import SQL_DIR, StoreNotReady, engine_for, query
from mlops_lib.stores.drift_tables import DriftTables
from mlops_lib.stores.labels import LabelTables
from mlops_lib.stores.predictions import PredictionRecord, PredictionTables
from mlops_lib.stores.records import (
    BatchRecord,
    BatchTaken,
    ChampionRecord,
    DecisionRecord,
    utcnow,
)
from mlops_lib.stores.runs import RunTables
from mlops_lib.stores.scoring_batches import ScoringBatchTables, ScoringClaim

__all__ = [
    "SQL_DIR", "AlertRecord", "BatchRecord", "BatchTaken", "ChampionRecord", "DecisionRecord",
    "ModelClaim", "PredictionRecord", "ReplayRecord", "ScoringClaim",
    "Store", "StoreNotReady", "engine_for", "query", "utcnow",
]


class Store(BatchTables, RunTables, DecisionTables, DriftTables, ClaimTables,
            PredictionTables, ScoringBatchTables, LabelTables, AlertTables):
    """Typed access to the metadata store at a SQLAlchemy URL (SQLite or PostgreSQL).

    Cheap to build: the engine is the process's one for that URL (`engine_for`), and the
    schema is checked once per process, on first use.
    """
