"""The step boundaries a fault is injected at, by DAG, in the order a run reaches them.

`after` a call: its work is done (a row written, an object uploaded, a version registered)
and the process dies before the step records or returns it; `before`: nothing of it is done.
"""

from __future__ import annotations

from tests.faults.injector import ACTIONS, Fault, Point

STORE = "mlops_lib.stores.store:Store"
REGISTRY = "mlops_lib.stores.registry:Registry"
VERSIONER = "mlops_lib.stores.versioning:DatasetVersioner"
MLFLOW_CLIENT = "mlflow.tracking.client:MlflowClient"

INGEST = (
    Point("claim-batch.before", "register", f"{STORE}.claim_batch", "before"),
    Point("claim-batch.after", "register", f"{STORE}.claim_batch"),
    Point("read-files.before", "validate", "mlops_lib.stores.s3io:read_batch_files", "before"),
    Point("contract-checked", "validate", "mlops_lib.validation.checks:validate_batch"),
    Point("conformed", "validate", "mlops_lib.validation.conform:conform"),
    Point("staged.after", "validate", "mlops_lib.stores.s3io:upload_path"),
    Point("accept.before", "validate", f"{STORE}.accept_batch", "before"),
    Point("accept.after", "validate", f"{STORE}.accept_batch"),
)

# A batch that breaks the contract, on its way to quarantine.
QUARANTINE = (
    Point("quarantine-copied", "validate", "mlops_lib.stores.s3io:copy_to_quarantine"),
    Point("quarantine-recorded.before", "validate", f"{STORE}.quarantine_batch", "before"),
    Point("quarantine-recorded.after", "validate", f"{STORE}.quarantine_batch"),
)

TRAINING = (
    Point("batches-taken.after", "plan", f"{STORE}.take_training_batches"),
    Point("plan-recorded.after", "plan", f"{STORE}.start_training_run"),
    # DVC: committed but not tagged; tagged but not pushed; versioned but not recorded
    Point("dvc-committed", "version", f"{VERSIONER}._git", first_arg="commit"),
    Point("dvc-push.before", "version", f"{VERSIONER}._dvc", "before", first_arg="push"),
    Point("dvc-versioned.after", "version", f"{VERSIONER}.version"),
    Point("mlflow-run.after", "train", f"{REGISTRY}.ensure_run"),
    Point("trained.after", "train", "mlops_lib.steps.train:_train_on_version"),
    Point("key-claimed.after", "train", "mlops_lib.stores.claims:ClaimTables.claim_model"),
    # inside MLflow's log_model, whatever the flavor: the logged model exists, its files are
    # saved locally but not uploaded; uploaded, but the model is not finalised
    Point("log-model.upload.before", "train", f"{MLFLOW_CLIENT}.log_model_artifacts", "before"),
    Point("log-model.upload.after", "train", f"{MLFLOW_CLIENT}.log_model_artifacts"),
    Point("registered.after", "train", f"{REGISTRY}.create_version"),
    Point("claim-recorded.after", "train", f"{STORE}.record_claimed_version"),
    Point("challenger-alias.before", "train", f"{REGISTRY}.set_alias", "before"),
    Point("metrics-logged.after", "evaluate", f"{REGISTRY}.log_run_data"),
    Point("report-recorded.after", "reports", f"{STORE}.record_report"),
    Point("decision.after", "decide", f"{STORE}.record_decision_and_move"),
    # a failure to publish the index page is logged, not raised: only a kill ends the step
    Point("index-published.after", "decide", "mlops_lib.reports.index:publish_index"),
)

SWALLOWED = {"index-published.after"}


def faults(points: tuple[Point, ...]) -> list[Fault]:
    return [Fault(point, action) for point in points for action in ACTIONS]


def expected_exit(fault: Fault) -> int:
    """How the faulted attempt ends: killed (-9), raised (1), or done (0: the step logs a
    failure it may ignore)."""
    if fault.action == "kill":
        return -9
    return 0 if fault.point.name in SWALLOWED else 1
