"""Training runs (why each fired, what it made) and the reports a run stored."""

from __future__ import annotations

import json
from typing import Any

from mlops_lib.stores.records import utcnow
from mlops_lib.stores.tables import Tables


class RunTables(Tables):
    """`training_runs` and `reports`."""

    def start_training_run(self, pipeline: str, dag_run_id: str, batch_id: str,
                           trigger: dict[str, Any]) -> None:
        now = utcnow()
        self._insert_once("training_runs", {
            "pipeline": pipeline, "dag_run_id": dag_run_id, "batch_id": batch_id,
            "trigger_json": json.dumps(trigger), "data_rev": None, "data_md5": None,
            "mlflow_run_id": None, "model_version": None, "created_at": now, "updated_at": now,
        })

    def update_training_run(self, pipeline: str, dag_run_id: str, **fields: str | None) -> None:
        allowed = {"data_rev", "data_md5", "mlflow_run_id", "model_version"}
        if not fields or not set(fields) <= allowed:
            raise ValueError(f"can only update {sorted(allowed)}, got {sorted(fields)}")
        assignments = ", ".join(f"{k} = :{k}" for k in fields)
        self._exec(f"UPDATE training_runs SET {assignments}, updated_at = :updated_at "
                   "WHERE pipeline = :pipeline AND dag_run_id = :dag_run_id",
                   **fields, updated_at=utcnow(), pipeline=pipeline, dag_run_id=dag_run_id)

    def get_training_run(self, pipeline: str, dag_run_id: str) -> dict[str, Any] | None:
        row = self._one("SELECT * FROM training_runs WHERE pipeline = :p AND dag_run_id = :r",
                        p=pipeline, r=dag_run_id)
        return None if row is None else _with_trigger(row)

    def training_run_of_version(self, pipeline: str, version: str) -> dict[str, Any] | None:
        """The training run that registered `version` of the pipeline's model, or None."""
        row = self._one("SELECT * FROM training_runs WHERE pipeline = :p AND model_version = :v "
                        "ORDER BY updated_at DESC", p=pipeline, v=str(version))
        return None if row is None else _with_trigger(row)

    def undecided_runs(self, pipeline: str) -> list[dict[str, Any]]:
        """Training runs that registered a model and have no decision yet (waiting for a
        person's approval, or still being judged), oldest first."""
        return self._all(
            "SELECT r.dag_run_id, r.model_version, r.updated_at FROM training_runs r "
            "WHERE r.pipeline = :p AND r.model_version IS NOT NULL AND NOT EXISTS (SELECT 1 "
            "FROM decisions d WHERE d.pipeline = r.pipeline AND d.dag_run_id = r.dag_run_id) "
            "ORDER BY r.updated_at", p=pipeline)

    def record_report(self, pipeline: str, dag_run_id: str, kind: str, fmt: str,
                      uri: str) -> None:
        self._insert_once("reports", {"pipeline": pipeline, "dag_run_id": dag_run_id,
                                      "kind": kind, "format": fmt, "uri": uri,
                                      "created_at": utcnow()})

    def reports(self, pipeline: str, dag_run_id: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM reports WHERE pipeline = :p AND dag_run_id = :r "
                         "ORDER BY kind, format", p=pipeline, r=dag_run_id)

    def report_runs(self, pipeline: str) -> list[dict[str, Any]]:
        """The run keys that filed reports (DAG runs, `drift/<batch>`, `scoring/...`), newest
        first, each with its newest report's time and how many reports it has."""
        return self._all("SELECT dag_run_id, MAX(created_at) AS created_at, COUNT(*) AS reports "
                         "FROM reports WHERE pipeline = :p GROUP BY dag_run_id "
                         "ORDER BY MAX(created_at) DESC, dag_run_id DESC", p=pipeline)


def _with_trigger(row: dict[str, Any]) -> dict[str, Any]:
    row["trigger"] = json.loads(row.pop("trigger_json"))
    return row
