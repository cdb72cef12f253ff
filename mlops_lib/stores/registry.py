"""A thin facade over the MLflow tracking server and Model Registry.

Runs are keyed by the Airflow DAG run (tag `ct.dag_run_id`) and model versions by the MLflow
run that produced them, so a retried task finds what it made before instead of making more.
Promotion uses aliases (`champion`, `challenger`), never registry stages.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the tasks that only move aliases must not import XGBoost
    import xgboost as xgb

CHAMPION = "champion"
CHALLENGER = "challenger"
LOGIN_REFUSED = ("UNAUTHENTICATED", "CUSTOMER_UNAUTHORIZED")  # MLflow's names for a 401


@dataclass(frozen=True)
class LoggedModel:
    """A model logged on a run (`models:/m-<id>`), not yet registered."""

    model_id: str
    model_uri: str


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
            return str(existing[0].info.run_id)
        run = self.client.create_run(exp_id, run_name=dag_run_id,
                                     tags={"ct.dag_run_id": dag_run_id, **tags})
        return str(run.info.run_id)

    def log_run_data(self, run_id: str, *, params: dict[str, Any] | None = None,
                     metrics: dict[str, float] | None = None,
                     tags: dict[str, str] | None = None) -> None:
        """Params (the same value on every retry: MLflow refuses to change one), tags, and
        metrics at step 0 stamped now.

        Now, not a fixed time: a retry logs other values of the same metric (`train_seconds`),
        and `log_model` copies the run's step-0 metric history onto the new logged model, where
        two values at one (name, timestamp, step) break a UNIQUE constraint for every later
        attempt. Stamped apart, the latest value is the run's, and each write is a new point.
        """
        import time

        from mlflow.entities import Metric, Param, RunTag

        now_ms = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now_ms, 0) for k, v in (metrics or {}).items()],
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
        """Log the booster (XGBoost JSON) and register it once per run; returns the version.

        No guard across runs: the train step registers through a store claim instead."""
        existing = self.version_of_run(model_name, run_id)
        if existing is not None:
            return existing
        return self.create_version(model_name, self.log_model(run_id, booster), run_id, tags)

    def log_model(self, run_id: str, booster: xgb.Booster) -> LoggedModel:
        """Log a bare booster (the XGBoost flavor, XGBoost JSON) on the run as a new logged
        model. The train step logs its models with their serving contract instead
        (`log_pyfunc`, through mlops_lib.scoring.contract); both load with `load_booster`.

        Each call makes its own logged model: one that a failed attempt left half-logged is
        never reused, and only the one passed to `create_version` is ever registered."""
        import xgboost as xgb

        with self._mlflow.start_run(run_id=run_id):
            info = self._mlflow.xgboost.log_model(
                booster, name="model", model_format="json",
                pip_requirements=[f"xgboost=={xgb.__version__}"])
        return LoggedModel(model_id=info.model_id, model_uri=info.model_uri)

    def log_pyfunc(self, run_id: str, *, python_model: Path, artifacts: dict[str, str],
                   code_paths: list[str], signature: Any, input_example: Any,
                   pip_requirements: list[str], metadata: dict[str, Any]) -> LoggedModel:
        """Log a pyfunc model "from code" (the file `python_model`, never a pickled object)
        with its artifacts on the run as a new logged model, ready to register; a new one
        per call, as `log_model`."""
        with self._mlflow.start_run(run_id=run_id):
            info = self._mlflow.pyfunc.log_model(
                name="model", python_model=str(python_model), artifacts=artifacts,
                code_paths=code_paths, signature=signature, input_example=input_example,
                pip_requirements=pip_requirements, metadata=metadata)
        return LoggedModel(model_id=info.model_id, model_uri=info.model_uri)

    def create_version(self, model_name: str, model: LoggedModel, run_id: str,
                       tags: dict[str, str]) -> str:
        """Register a logged model as a new version of `model_name`; returns the version."""
        self._ensure_registered_model(model_name)
        version = self.client.create_model_version(
            model_name, source=model.model_uri, run_id=run_id, tags=tags,
            model_id=model.model_id)
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
        import xgboost as xgb

        uri = f"models:/{model_name}/{version}"
        with tempfile.TemporaryDirectory() as tmp:
            local = self._mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            model_file = booster_file(Path(local))
            if model_file is None:
                raise FileNotFoundError(f"{model_name} v{version} holds no XGBoost model file")
            booster = xgb.Booster()
            booster.load_model(str(model_file))
        return booster

    def model_file_bytes(self, model_name: str, version: str) -> tuple[str, bytes] | None:
        """The registered booster file's name and bytes (XGBoost JSON/UBJ), as MLflow stores
        it; None when the version holds none."""
        uri = f"models:/{model_name}/{version}"
        with tempfile.TemporaryDirectory() as tmp:
            local = self._mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp)
            model_file = booster_file(Path(local))
            return None if model_file is None else (model_file.name, model_file.read_bytes())

    def download_model(self, model_name: str, version: str, dst: Path) -> Path:
        """The version's model folder (MLmodel, artifacts/, code/ ...) downloaded under `dst`."""
        uri = f"models:/{model_name}/{version}"
        return Path(self._mlflow.artifacts.download_artifacts(artifact_uri=uri,
                                                              dst_path=str(dst)))

    def version_tags(self, model_name: str, version: str) -> dict[str, str]:
        return dict(self.client.get_model_version(model_name, version).tags)

    # -- aliases -----------------------------------------------------------------------------
    def alias_version(self, model_name: str, alias: str) -> str | None:
        """The version the alias points at; None when the model or the alias does not exist.
        A refused login is raised: a champion must never look absent because the credentials
        are wrong."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(model_name, alias).version)
        except MlflowException as exc:
            if exc.error_code in LOGIN_REFUSED:
                raise
            return None  # 404; 400 (no such alias); 403 (the auth app's answer for no model)

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


def booster_file(model_dir: Path) -> Path | None:
    """The booster file in a downloaded model folder: the XGBoost flavor keeps model.json at
    its root, the serving pyfunc keeps it in artifacts/."""
    return next((p for pattern in ("model.json", "model.ubj", "artifacts/model.json",
                                   "artifacts/model.ubj")
                 for p in model_dir.glob(pattern)), None)
