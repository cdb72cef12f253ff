"""Three DAGs per pipeline spec in `pipelines/` (adding a model is adding a file), a fourth
for a spec with a `scoring:` section and a fifth for one with a `labels:` section:

- `ct_<name>_ingest`: waits for batches in S3 (a deferred sensor, or S3 → SQS events), claims,
  validates and stages each one, and announces accepted batches on an Asset;
- `ct_<name>_drift_monitor`: on each accepted batch, measures drift against the champion's
  training data and announces crossings of the spec's drift policy on an Asset;
- `ct_<name>`: trains, evaluates and decides, on the assets the spec retrains on, its cron,
  by hand (Params form) or by `airflow backfill create` (shadow runs);
- `ct_<name>_score`: waits for unlabelled batches under the scoring prefix (the same sensor as
  ingest), claims each one, scores it with the champion (and the challenger, in shadow) and
  reports on the champion's predictions (Evidently);
- `ct_<name>_labels`: waits for label drops under the labels prefix, merges each one, turns its
  labelled rows into a training batch, measures realized performance and announces crossings
  of the performance policy on an Asset;
- `ct_<name>_freshness` (a spec with alerts.freshness_sla_h): checks every
  alerts.check_every_minutes that a batch was accepted within the SLA, so that "no data" is
  alerted on even when nothing else runs.

A failed run of the training, drift monitor, labels or freshness DAG raises a dag_failed alert
(`PipelineFailureNotifier`); ingest and scoring runs fail on a bad batch, which has its own
rejected_batch alert. alerts.run_deadline_minutes adds a deadline alert to the training DAG.

Wiring only: the work is in `ct_airflow.tasks` → `mlops_lib.steps` (one module per step).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DAG, Param, task, task_group
from ct_airflow import labels_tasks as labels
from ct_airflow import notifiers
from ct_airflow import scoring_tasks as scoring
from ct_airflow import tasks as ct
from ct_airflow.approval import PromotionApprovalOperator
from ct_airflow.links import report_task
from ct_airflow.schedules import (
    batches_asset,
    drift_asset,
    performance_asset,
    training_schedule,
)
from ct_airflow.sensors import S3BatchSensor

from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec, load_specs

START = datetime(2026, 1, 1)
BATCH_LABEL = "{{ batch_id }}"  # set by the batch tasks (ct_airflow.tasks.label_batch)


def _defaults(spec: PipelineSpec) -> dict[str, object]:
    return {"owner": spec.owner, "retries": 2, "retry_delay": timedelta(seconds=15)}


def _on_failure(spec: PipelineSpec) -> notifiers.PipelineFailureNotifier:
    return notifiers.PipelineFailureNotifier(spec.name)


def _deadline(spec: PipelineSpec) -> object:
    """A training run still going alerts.run_deadline_minutes after it was queued: stuck."""
    minutes = spec.alerts.run_deadline_minutes if spec.alerts else None
    if minutes is None:
        return None
    from airflow.sdk.definitions.callback import AsyncCallback
    from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

    return DeadlineAlert(reference=DeadlineReference.DAGRUN_QUEUED_AT,
                         interval=timedelta(minutes=minutes),
                         callback=AsyncCallback(notifiers.run_deadline_missed,
                                                kwargs={"pipeline": spec.name,
                                                        "minutes": minutes}))


def _batch_sensor(spec: PipelineSpec, *, bucket: str, prefix: str, completion: object,
                  seen: str, polling: bool = False,
                  task_id: str = "wait_for_batches") -> S3BatchSensor:
    """The run's first task: the complete batches under `prefix` the store has not seen (the
    `seen` query). Polling: waits deferred for them; events: the queue woke the run, look once."""
    sensor_args = {"pipeline": spec.name, "bucket": bucket, "prefix": prefix,
                   "completion": completion, "poke_interval": spec.trigger.poke_interval_s,
                   "seen": seen}
    if spec.trigger.mode == "events" and not polling:
        return S3BatchSensor(task_id="find_batches", deferrable=False, mode="poke", timeout=1,
                             soft_fail=True, **sensor_args)
    return S3BatchSensor(task_id=task_id, timeout=7 * 24 * 3600, **sensor_args)


def ingest_dag(spec: PipelineSpec, settings: Settings) -> DAG:
    events = spec.trigger.mode == "events"
    if events:
        from ct_airflow.assets import landing_asset

        schedule: object = [landing_asset(spec, settings)]
    else:
        schedule = "@continuous"  # each run waits (deferred) for the next batches
    with DAG(
        dag_id=spec.ingest_dag_id, schedule=schedule, max_active_runs=1, start_date=START,
        catchup=False, tags=["continuous-training", "ingest", spec.name],
        default_args=_defaults(spec),
        description=f"Accept batches of {spec.name} from s3://{spec.source.bucket}/"
                    f"{spec.source.prefix}",
        doc_md=f"Spec: `{spec.path}`. A batch is a folder complete by "
               f"{spec.source.completion}; arrival seen by {spec.trigger.mode}. Accepted "
               f"batches update the asset `{spec.batches_asset_uri}`.",
    ) as dag:
        found = _batch_sensor(spec, bucket=spec.source.bucket, prefix=spec.source.prefix,
                              completion=spec.source.completion_rule, seen="known_batches")

        @task_group(group_id="batch")
        def accept(batch: dict[str, object]) -> None:
            # The UI lists the mapped tasks by batch id, not by 0, 1, 2 ...
            registered = task(ct.register_batch, map_index_template=BATCH_LABEL)(spec.name, batch)
            task(ct.validate_batch, outlets=[batches_asset(spec)],
                 map_index_template=BATCH_LABEL)(spec.name, registered)

        accept.expand(batch=found.output)
    return dag


def scoring_dag(spec: PipelineSpec, settings: Settings) -> DAG:
    if spec.trigger.mode == "events":
        from ct_airflow.assets import scoring_asset

        schedule: object = [scoring_asset(spec, settings)]
    else:
        schedule = "@continuous"  # each run waits (deferred) for the next scoring batches
    with DAG(
        dag_id=spec.score_dag_id, schedule=schedule, max_active_runs=1, start_date=START,
        catchup=False, tags=["continuous-training", "scoring", spec.name],
        default_args=_defaults(spec),
        description=f"Score unlabelled {spec.name} batches from s3://{spec.scoring_bucket}/"
                    f"{spec.scoring_prefix} with the champion",
        doc_md=f"Spec: `{spec.path}`. A scoring batch is a folder complete by "
               f"{spec.scoring.completion}; predictions go to `predictions/{spec.name}/<batch>/`"
               f" and the prediction log. Shadow scoring: {spec.scoring.shadow}.",
    ) as dag:
        found = _batch_sensor(spec, bucket=spec.scoring_bucket, prefix=spec.scoring_prefix,
                              completion=spec.scoring.completion_rule,
                              seen="known_scoring_batches")

        @task_group(group_id="batch")
        def score(batch: dict[str, object]) -> None:
            claimed = task(scoring.claim_scoring_batch, map_index_template=BATCH_LABEL)(
                spec.name, batch)
            scored = task(scoring.score_batch, map_index_template=BATCH_LABEL)(
                spec.name, claimed)
            # The scoring report carries the "Evidently report" button, as training's do.
            report_task(scoring.build_scoring_report, map_index_template=BATCH_LABEL)(
                spec.name, claimed, scored)
            if spec.scoring.shadow:  # after the champion: never instead of it
                shadow = task(scoring.shadow_score_batch, map_index_template=BATCH_LABEL)(
                    spec.name, claimed)
                scored >> shadow

        scored = score.expand(batch=found.output)
        if spec.labels is not None:  # the label-free estimate of each new batch, before labels
            scored >> task(labels.measure_performance, trigger_rule="all_done")(spec.name)
    return dag


def labels_dag(spec: PipelineSpec) -> DAG:
    assert spec.labels is not None
    with DAG(
        dag_id=spec.labels_dag_id, schedule="@continuous", max_active_runs=1, start_date=START,
        catchup=False, tags=["continuous-training", "labels", spec.name],
        default_args=_defaults(spec), on_failure_callback=_on_failure(spec),
        description=f"Late labels of {spec.name} from s3://{spec.labels_bucket}/"
                    f"{spec.labels_prefix}: realized performance and the performance trigger",
        doc_md=f"Spec: `{spec.path}`. A label drop is a folder complete by "
               f"{spec.labels.completion}; corrections: {spec.labels.on_correction}. Labelled "
               f"rows become a training batch; crossings of `{spec.trigger.performance}` "
               f"update `{spec.performance_asset_uri}` (retrain on: "
               f"{', '.join(spec.trigger.retrain_on) or 'nothing'}).",
    ) as dag:
        # Label drops are polled in either trigger mode (no queue watches the labels prefix).
        found = _batch_sensor(spec, bucket=spec.labels_bucket, prefix=spec.labels_prefix,
                              completion=spec.labels.completion_rule, seen="known_label_drops",
                              polling=True, task_id="wait_for_label_drops")

        @task_group(group_id="drop")
        def take(drop: dict[str, object]) -> None:
            accepted = task(labels.ingest_label_drop, map_index_template=BATCH_LABEL)(
                spec.name, drop)
            task(labels.stage_labelled_rows, outlets=[batches_asset(spec)],
                 map_index_template=BATCH_LABEL)(spec.name, accepted)

        taken = take.expand(drop=found.output)
        # Every drop counts once it is in, even when another drop of the run was refused.
        # The "Evidently report" link opens the newest labelled window's performance report.
        measured = report_task(labels.measure_performance, trigger_rule="all_done")(spec.name)
        taken >> measured
        if spec.require_live_rows:  # before the policy: a live promotion changes the champion
            measured = task(labels.judge_live_challenger)(spec.name, measured)
        task(labels.check_performance_policy, outlets=[performance_asset(spec)])(
            spec.name, measured)
    return dag


def drift_monitor_dag(spec: PipelineSpec) -> DAG:
    with DAG(
        dag_id=spec.monitor_dag_id, schedule=[batches_asset(spec)], max_active_runs=1,
        start_date=START, catchup=False, tags=["continuous-training", "drift", spec.name],
        default_args=_defaults(spec), on_failure_callback=_on_failure(spec),
        description=f"Drift of accepted {spec.name} batches against the champion's data",
        doc_md=f"Policy: `{spec.trigger.drift}`. Crossings update `{spec.drift_asset_uri}`"
               f" (retrain on: {', '.join(spec.trigger.retrain_on) or 'nothing'}).",
    ) as dag:
        # The "Evidently report" link opens the newest measured batch's drift report.
        measured = report_task(ct.measure_drift)(spec.name)
        task(ct.check_drift_policy, outlets=[drift_asset(spec)])(spec.name, measured)
    return dag


def training_dag(spec: PipelineSpec) -> DAG:
    with DAG(
        dag_id=spec.dag_id, schedule=training_schedule(spec), max_active_runs=1,
        start_date=START, catchup=False, tags=["continuous-training", "training", spec.name],
        default_args=_defaults(spec), on_failure_callback=_on_failure(spec),
        deadline=_deadline(spec),
        description=spec.description or f"Continuous training of {spec.name}",
        doc_md=f"Spec: `{spec.path}`. Retrains on {', '.join(spec.trigger.retrain_on) or '-'}"
               f"{f', schedule {spec.trigger.schedule}' if spec.trigger.schedule else ''}. "
               f"Metric: {spec.metric.name}. Backfill runs are shadow runs.",
        params={
            "reason": Param("", type="string", title="Reason",
                            description="Why you run it; recorded with the run."),
            # optional in the trigger form: "null" in the type, or the form insists on a value
            "batches": Param(None, type=["null", "array"], items={"type": "string"},
                             title="Batches",
                             description="Accepted batch ids to train on (default: the new "
                                         "ones since the last training run)."),
            "window_start": Param(None, type=["null", "string"], format="date-time",
                                  title="Window start",
                                  description="Or train on the batches accepted in "
                                              "[start, end) (UTC)."),
            "window_end": Param(None, type=["null", "string"], format="date-time",
                                title="Window end"),
            "force": Param(False, type="boolean", title="Force",
                           description="Train even with nothing new (on the newest batches) "
                                       "or below trigger.min_new_rows."),
            "promote": Param(False, type="boolean", title="Promote (backfill)",
                             description="Let a backfill run promote when its data is newer "
                                         "than the champion's."),
        },
    ) as dag:
        reconciled = task(ct.reconcile_champion)(spec.name)
        plan = task(ct.plan_training)(spec.name)
        reconciled >> plan
        version = task(ct.version_dataset)(spec.name, plan)
        trained = task(ct.train_model)(spec.name, plan, version)
        # These three carry an "Evidently report" button (operator extra link) in the UI.
        evaluation = report_task(ct.evaluate_challenger)(spec.name, plan, version, trained)
        reports = report_task(ct.build_reports)(spec.name, plan, version, trained)
        if spec.promotion == "manual":  # a person approves what the gate would promote
            approval = PromotionApprovalOperator(
                task_id="approve_promotion", pipeline=spec.name, plan=plan,
                evaluation=evaluation, reports=reports, timeout_h=spec.approval_timeout_h)
            # Runs when the approval was not needed (skipped), to record the gate's keep.
            decision = report_task(ct.promote_champion,
                                   trigger_rule="none_failed_min_one_success")(
                spec.name, plan, evaluation, reports, approval.output)
        else:
            decision = report_task(ct.promote_champion)(spec.name, plan, evaluation, reports)
        # After the decision, not in it: a new champion's drift reference (a minute at 10M rows).
        task(ct.publish_drift_reference)(spec.name, decision)
    return dag


def freshness_dag(spec: PipelineSpec) -> DAG:
    assert spec.alerts is not None and spec.alerts.freshness_sla_h is not None
    every = spec.alerts.check_every_minutes
    with DAG(
        dag_id=spec.freshness_dag_id, schedule=timedelta(minutes=every), max_active_runs=1,
        start_date=START, catchup=False, tags=["continuous-training", "alerts", spec.name],
        default_args=_defaults(spec), on_failure_callback=_on_failure(spec),
        description=f"Freshness SLA of {spec.name}: a batch accepted within "
                    f"{spec.alerts.freshness_sla_h:g} h",
        doc_md=f"Spec: `{spec.path}`. Every {every} min: a stale_data alert (runbook "
               "docs/runbooks/no-data.md) when no batch was accepted within the SLA; fresh "
               "data resolves it. See docs/alerting.md.",
    ) as dag:
        task(notifiers.freshness_check)(spec.name)
    return dag


def _freshness(spec: PipelineSpec) -> list[DAG]:
    return [freshness_dag(spec)] if spec.alerts and spec.alerts.freshness_sla_h else []


_settings = Settings.from_env()
for _spec in load_specs(*_settings.spec_dirs):
    for _dag in (ingest_dag(_spec, _settings), drift_monitor_dag(_spec), training_dag(_spec),
                 *([scoring_dag(_spec, _settings)] if _spec.scoring_dag else []),
                 *([labels_dag(_spec)] if _spec.labels is not None else []),
                 *_freshness(_spec)):
        globals()[_dag.dag_id] = _dag
