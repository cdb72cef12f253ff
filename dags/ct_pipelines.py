"""One continuous-training DAG per pipeline spec in `pipelines/` (adding a model is adding a
file). Each run waits for a new batch in S3, then validates, versions, trains, evaluates,
reports and promotes. Wiring only: the work is in `ct_airflow.tasks` → `mlops_lib.steps`.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, task
from ct_airflow import tasks as ct
from ct_airflow.sensors import S3BatchSensor

from mlops_lib.settings import Settings
from mlops_lib.spec import load_specs

for spec in load_specs(Settings.from_env().pipelines_dir):
    with DAG(
        dag_id=spec.dag_id,
        description=spec.description or f"Continuous training of {spec.name}",
        schedule="@continuous",  # each run waits (deferred) for the next batch
        max_active_runs=1,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        tags=["continuous-training", spec.name],
        default_args={"owner": spec.owner, "retries": 2, "retry_delay": timedelta(seconds=15)},
        doc_md=f"Spec: `{spec.path}`. Landing: `s3://{spec.source.bucket}/{spec.source.prefix}`"
               f" (a batch is a folder, complete by {spec.source.completion}). "
               f"Metric: {spec.metric.name}.",
    ) as dag:
        reconciled = task(ct.reconcile_champion)(spec.name)
        batch = S3BatchSensor(
            task_id="wait_for_batch", pipeline=spec.name, bucket=spec.source.bucket,
            prefix=spec.source.prefix, completion=spec.source.completion_rule,
            poke_interval=spec.trigger.poke_interval_s, timeout=7 * 24 * 3600,
        )
        reconciled >> batch
        registered = task(ct.register_batch)(spec.name, batch.output)
        validated = task(ct.validate_batch)(spec.name, registered)
        version = task(ct.version_dataset)(spec.name, registered, validated)
        trained = task(ct.train_model)(spec.name, version)
        evaluation = task(ct.evaluate_challenger)(spec.name, registered, version, trained)
        reports = task(ct.build_reports)(spec.name, registered, validated, trained)
        task(ct.promote_champion)(spec.name, evaluation, reports)
    globals()[spec.dag_id] = dag
