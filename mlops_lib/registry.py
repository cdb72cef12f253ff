"""A thin facade over the MLflow tracking server and Model Registry.

Runs are keyed by the Airflow DAG run (tag `ct.dag_run_id`) and model versions by the MLflow
run that produced them, so a retried task finds what it made before instead of making more.
Promotion uses aliases (`champion`, `challenger`), never registry stages.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import xgboost as xgb

CHAMPION = "champion"
CHALLENGER = "challenger"


class Registry:
    def __init__(self, tracking_uri: str) -> None:
        import mlflow  # heavy; imported when a task first needs it
        from mlflow import MlflowClient

        self._mlflow = mlflow
        self.tracking_uri = tracking_uri
        mlflow.set_tracking_uri(tracking_uri)
        self.client = MlflowClient(tracking_uri)

    # -- runs ----------------------------------------------------------------------------------
    def ensure_run(self, experiment: str, dag_run_id: str, tags: dict[str, str]) -> str:
        """The MLflow run of an Airflow DAG run, created on first call."""
        exp = self.client.get_experiment_by_name(experiment)
        exp_id = exp.experiment_id if exp else self.client.create_experiment(experiment)
        existing = self.client.search_runs(
            [exp_id], filter_string=f"tags.`ct.dag_run_id` = '{_quote(dag_run_id)}'",
            max_results=1)
        if existing:
            return existing[0].info.run_id
        run = self.client.create_run(exp_id, run_name=dag_run_id,
                                     tags={"ct.dag_run_id": dag_run_id, **tags})
        return run.info.run_id

    def log_run_data(self, run_id: str, *, params: dict[str, Any] | None = None,
                     metrics: dict[str, float] | None = None,
                     tags: dict[str, str] | None = None) -> None:
        from mlflow.entities import Metric, Param, RunTag

        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), 0, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
        )

    def log_artifacts(self, run_id: str, local_dir: Path, artifact_path: str) -> str:
        self.client.log_artifacts(run_id, str(local_dir), artifact_path)
        return f"{self.client.get_run(run_id).info.artifact_uri}/{artifact_path}"

    def experiment_id(self, run_id: str) -> str:
        return self.client.get_run(run_id).info.experiment_id

    # -- models ------------------------------------------------------------------------------
    def register_model(self, run_id: str, model_name: str, booster: xgb.Booster,
                       tags: dict[str, str]) -> str:
        """Log the booster (XGBoost JSON) and register it once per run; returns the version."""
        existing = self.version_of_run(model_name, run_id)
        if existing is not None:
            return existing
        with self._mlflow.start_run(run_id=run_id):
            info = self._mlflow.xgboost.log_model(
                booster, name="model", model_format="json",
                pip_requirements=[f"xgboost=={xgb.__version__}"])
        self._ensure_registered_model(model_name)
        version = self.client.create_model_version(
            model_name, source=info.model_uri, run_id=run_id, tags=tags, model_id=info.model_id)
        return str(version.version)

    def version_of_run(self, model_name: str, run_id: str) -> str | None:
        found = self.client.search_model_versions(
            f"name = '{_quote(model_name)}' and run_id = '{_quote(run_id)}'")
        return str(min(int(v.version) for v in found)) if found else None

    def version_by_tag(self, model_name: str, key: str, value: str) -> str | None:
        """The oldest version of the model carrying tag key=value, if any."""
        found = self.client.search_model_versions(
            f"name = '{_quote(model_name)}' and tags.`{key}` = '{_quote(value)}'")
        return str(min(int(v.version) for v in found)) if found else None

    def load_booster(self, model_name: str, version: str) -> xgb.Booster:
        uri = f"models:/{model_name}/{version}"
        with tempfile.TemporaryDirectory() as tmp:
            local = self._mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            model_file = next(Path(local).glob("model.*"))
            booster = xgb.Booster()
            booster.load_model(str(model_file))
        return booster

    def version_tags(self, model_name: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(model_name, version).tags)

    # -- aliases -----------------------------------------------------------------------------
    def alias_version(self, model_name: str, alias: str) -> str | None:
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(model_name, alias).version)
        except MlflowException:
            return None

    def set_alias(self, model_name: str, alias: str, version: str) -> None:
        """Point an alias at a version and read it back (MLflow has no compare-and-set)."""
        self.client.set_registered_model_alias(model_name, alias, version)
        actual = self.alias_version(model_name, alias)
        if actual != version:
            raise RuntimeError(f"alias {model_name}@{alias} reads back {actual}, not {version}")

    def delete_alias(self, model_name: str, alias: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model_alias(model_name, alias)
        except MlflowException:
            pass  # no such alias (or model): nothing to delete

    def _ensure_registered_model(self, model_name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(model_name)
        except MlflowException:
            try:
                self.client.create_registered_model(
                    model_name, description="Managed by the continuous-training service; "
                                            "see aliases champion/challenger.")
            except MlflowException:
                self.client.get_registered_model(model_name)  # created concurrently


def _quote(value: str) -> str:
    return value.replace("'", "\\'")
