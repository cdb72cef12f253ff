"""The feedback loop demo (`make demo-loop`) and its producer side, shared with the end-to-end
test: rows to score that carry an id (and the outcomes that will only be known later), label
drops, waits for the service's verdicts on them, and the story they tell together
(`tell_loop_story`).

The rows come from `datagen` with a `concept`: the same feature distribution under every
concept, another labelling function after a change (concept drift), which only labels reveal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
from ct_airflow.rest_api import AirflowApi

from mlops_dev.demo import (
    BatchOutcome,
    DroppedBatch,
    drop_batch,
    wait_for_batch,
    wait_for_predictions,
)
from mlops_lib.settings import Settings
from mlops_lib.spec import PipelineSpec, load_specs
from mlops_lib.steps.labelled_rows import labelled_batch_id
from mlops_lib.stores.labels import LabelDropClaim, PerformanceWindow
from mlops_lib.stores.predictions import Role
from mlops_lib.stores.store import Store

LOOP_PIPELINE = "credit_loop"
Say = Callable[[str], None]


@dataclass(frozen=True)
class RowsToScore:
    """An unlabelled batch as dropped, and the outcomes of its rows (id, target) to come."""

    batch: DroppedBatch
    outcomes: pd.DataFrame


def spec_of(pipeline: str, settings: Settings) -> PipelineSpec:
    return next(s for s in load_specs(*settings.spec_dirs) if s.name == pipeline)


def drop_rows_to_score(pipeline: str, *, rows: int, seed: int, first_id: int,
                       concept: int = 0, settings: Settings | None = None) -> RowsToScore:
    """A synthetic batch of `concept` without its target, ids `first_id`.. in the spec's id
    column, on the scoring prefix (data first, then the marker or manifest)."""
    from mlops_dev.datagen import generate_batch, to_file_bytes
    from mlops_lib.landing.manifest import build_manifest
    from mlops_lib.stores.s3io import s3_client, upload_batch

    settings = settings or Settings.from_env()
    spec = spec_of(pipeline, settings)
    id_column = spec.label_id_column
    if id_column is None:
        raise ValueError(f"{pipeline} has no id column (scoring.id_column, labels.id_column or "
                         "a feature of role id)")
    frame = generate_batch(spec, rows, seed=seed, concept=concept)
    ids = range(first_id, first_id + rows)
    if id_column in frame.columns:  # a feature of role id: its drawn values give way to ours
        frame[id_column] = ids
    else:
        frame.insert(0, id_column, ids)
    outcomes = frame[[id_column, spec.target]].reset_index(drop=True)
    unlabelled = frame.drop(columns=[spec.target])
    batch_id = datetime.now(UTC).strftime("score-%Y%m%dT%H%M%S%fZ")
    ext = "parquet" if spec.source.format == "parquet" else "csv"
    files = {f"part-0000.{ext}": to_file_bytes(unlabelled, spec.source.format)}
    rule = spec.scoring
    manifest = (build_manifest(files, {name: rows for name in files})
                if rule.completion == "manifest" else b"")
    uri = upload_batch(s3_client(settings), spec.scoring_bucket, spec.scoring_prefix, batch_id,
                       files, marker=None if rule.completion == "quiet" else rule.marker,
                       marker_body=manifest)
    return RowsToScore(DroppedBatch(batch_id, uri), outcomes)


def drop_labels(pipeline: str, outcomes: pd.DataFrame, *, settings: Settings | None = None,
                drop_id: str | None = None) -> DroppedBatch:
    """Outcomes (id, target) as one CSV label drop under the spec's labels prefix."""
    from mlops_lib.stores.s3io import s3_client, upload_batch

    settings = settings or Settings.from_env()
    spec = spec_of(pipeline, settings)
    if spec.labels is None:
        raise ValueError(f"{pipeline} has no `labels:` section")
    drop_id = drop_id or datetime.now(UTC).strftime("labels-%Y%m%dT%H%M%S%fZ")
    rule = spec.labels
    files = {"labels.csv": outcomes.to_csv(index=False).encode()}
    uri = upload_batch(s3_client(settings), spec.labels_bucket, spec.labels_prefix, drop_id,
                       files, marker=None if rule.completion == "quiet" else rule.marker)
    return DroppedBatch(drop_id, uri)


def wait_for_label_drop(store: Store, pipeline: str, drop_id: str, *,
                        timeout: float) -> LabelDropClaim:
    """Block until the labels DAG accepted or refused the drop; refused raises ValueError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [d for d in store.label_drops(pipeline) if d.drop_id == drop_id
                 and d.status != "claimed"]
        if found and found[0].status == "rejected":
            raise ValueError(f"label drop {drop_id} was refused: [{found[0].reason_code}]")
        if found:
            return found[0]
        time.sleep(1)
    raise TimeoutError(f"label drop {drop_id} of {pipeline}: no verdict after {timeout:.0f}s")


def wait_for_window(store: Store, pipeline: str, batch_id: str, *, timeout: float,
                    labelled: int) -> PerformanceWindow:
    """Block until the champion's batch window of `batch_id` counts `labelled` labels."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [w for w in store.performance(pipeline) if w.window_kind == "batch"
                 and w.window_key == batch_id and w.role == "champion"
                 and w.rows_labelled >= labelled]
        if found:
            return found[0]
        time.sleep(1)
    raise TimeoutError(f"no performance window of {batch_id} with {labelled} labels after "
                       f"{timeout:.0f}s")


# --- the story -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoredAndLabelled:
    """A batch the service scored and whose labels came back: the window they make and the
    task states of the labels run that took them."""

    batch_id: str
    drop_id: str
    window: PerformanceWindow
    states: dict[str, str]

    @property
    def labelled_batch(self) -> str:
        """The training batch the labels run made of the drop's scored rows."""
        return labelled_batch_id(self.drop_id)


@dataclass(frozen=True)
class LoopStory:
    first: BatchOutcome            # the first model
    after: ScoredAndLabelled       # rows of the new concept, scored by it, labelled
    retrained: BatchOutcome        # the performance-triggered run
    live: ScoredAndLabelled        # rows both versions scored: the live judgement
    recovered: ScoredAndLabelled   # the new champion on the new concept
    old: ScoredAndLabelled         # the new champion on the old concept: the rollback


class LoopStopped(RuntimeError):
    """A step of the story did not happen as the demo expects."""


@dataclass(frozen=True)
class _Loop:
    store: Store
    api: AirflowApi
    settings: Settings
    pipeline: str
    timeout: float
    say: Say

    def score_and_label(self, *, rows: int, seed: int, first_id: int, concept: int,
                        roles: tuple[Role, ...] = ("champion",)) -> ScoredAndLabelled:
        dropped = drop_rows_to_score(self.pipeline, rows=rows, seed=seed, first_id=first_id,
                                     concept=concept, settings=self.settings)
        self.say(f"dropped {rows} unlabelled rows (concept {concept}): {dropped.batch.uri}")
        wait_for_predictions(self.store, self.pipeline, dropped.batch.batch_id,
                             timeout=self.timeout, roles=roles)
        drop = drop_labels(self.pipeline, dropped.outcomes, settings=self.settings)
        self.say(f"  scored by {' and '.join(roles)}; their labels arrive: {drop.uri}")
        claim = wait_for_label_drop(self.store, self.pipeline, drop.batch_id,
                                    timeout=self.timeout)
        states = finished_run(self.api, f"ct_{self.pipeline}_labels", claim.dag_run_id,
                              timeout=self.timeout)
        window = wait_for_window(self.store, self.pipeline, dropped.batch.batch_id,
                                 timeout=60, labelled=rows)
        self.say(f"  realized {window.metric} of v{window.model_version}: "
                 f"{_num(window.value)} [{_num(window.ci_low)}, {_num(window.ci_high)}] on "
                 f"{window.rows_labelled} labelled rows (estimated before labels: "
                 f"{_num(window.estimated)})")
        return ScoredAndLabelled(dropped.batch.batch_id, drop.batch_id, window, states)

    def outcome(self, batch_id: str) -> BatchOutcome:
        outcome = wait_for_batch(self.store, self.pipeline, batch_id, timeout=self.timeout,
                                 api=self.api)
        if outcome.decision is None:
            raise LoopStopped(f"no decision on {batch_id}: {outcome}")
        d = outcome.decision
        self.say(f"  training run {outcome.dag_run_id}: {d.decision.upper()} "
                 f"v{d.candidate_version} ({d.metric} {d.candidate_value:.4f}): {d.reason}")
        return outcome


def tell_loop_story(store: Store, api: AirflowApi, settings: Settings, say: Say, *,
                    pipeline: str = LOOP_PIPELINE, timeout: float = 480) -> LoopStory:
    """The loop through a concept drift, on a pipeline with no model yet (see the module and
    docs/monitoring.md): first model, change, performance drop, retrain, live judgement,
    recovery, rollback."""
    loop = _Loop(store, api, settings, pipeline, timeout, say)
    say(f"{pipeline}: the first batch trains the first model")
    first_batch = drop_batch(pipeline, rows=2000, seed=601, settings=settings)
    first = loop.outcome(first_batch.batch_id)
    say("the concept changes: the same inputs, other outcomes")
    after = loop.score_and_label(rows=1500, seed=603, first_id=100_000, concept=1)
    for crossing in store.performance_crossings(pipeline):
        say(f"  performance trigger: {crossing['reason']}")
    say("  the retrain it announced trains on the labelled rows since the drop began")
    retrained = loop.outcome(after.labelled_batch)
    say("the challenger scores in shadow beside the champion; labels make its live rows")
    live = loop.score_and_label(rows=1000, seed=604, first_id=200_000, concept=1,
                                roles=("champion", "shadow"))
    judged = store.get_decision(pipeline, f"{retrained.dag_run_id}#live")
    say(f"  live decision: {'none yet' if judged is None else judged.decision.upper()}: "
        f"{'' if judged is None else judged.reason}")
    say("the new champion on the new concept")
    recovered = loop.score_and_label(rows=1000, seed=605, first_id=300_000, concept=1)
    say("the old concept comes back: the new champion fails its performance policy")
    old = loop.score_and_label(rows=1000, seed=606, first_id=400_000, concept=0)
    move = store.champion_moves(pipeline)[-1]
    say(f"  champion: v{move['model_version']} ({move['action']} by {move['actor']})")
    return LoopStory(first, after, retrained, live, recovered, old)


def finished_run(api: AirflowApi, dag_id: str, run_id: str, *, timeout: float) -> dict[str, str]:
    """The run's task states once none is left to run (or when `timeout` runs out)."""
    deadline = time.monotonic() + timeout
    while True:
        states = {t["task_id"]: t["state"] for t in api.task_instances(dag_id, run_id)}
        done = states and all(s in ("success", "failed", "skipped", "upstream_failed")
                              for s in states.values())
        if done or time.monotonic() > deadline:
            return states
        time.sleep(2)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def run_loop_demo(timeout: float = 480) -> int:
    """`make demo-loop`: start the local stack (as `make demo` does) and tell the loop's story on
    the `credit_loop` pipeline."""
    from mlops_dev import devstack
    from mlops_dev.demo import start_stack

    started = time.monotonic()
    dag_id = f"ct_{LOOP_PIPELINE}"
    stack = start_stack(started, tuple(dag_id + suffix for suffix in
                                       ("_ingest", "_drift_monitor", "", "_score", "_labels")))
    cfg, settings, store, api, say = (stack.cfg, stack.settings, stack.store, stack.api,
                                      stack.say)
    champion = store.get_champion(LOOP_PIPELINE)
    if champion is not None:
        say(f"this stack already ran the loop demo (champion v{champion.model_version}); for "
            "the whole story again, run `make reset` then `make demo-loop`")
        return 0
    try:
        tell_loop_story(store, api, settings, say, timeout=timeout)
    except (LoopStopped, TimeoutError, ValueError) as exc:
        say(f"the loop stopped: {exc}")
        return 1
    print()
    print(f"Performance  .venv/bin/mlops performance {LOOP_PIPELINE}   (every window, realized "
          "vs estimated)")
    print(f"Airflow UI   {cfg.airflow_url}/dags/{dag_id}_labels   login {devstack.AIRFLOW_USER}, "
          f"password in {devstack.passwords_file(cfg)}")
    print(f"Loop demo finished in {time.monotonic() - started:.0f}s. The stack keeps running; "
          "stop it with `make down`; `make reset` deletes its state.")
    return 0
