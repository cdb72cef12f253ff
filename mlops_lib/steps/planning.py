"""Why a training run fired and which accepted batches it trains on: pure decisions.

The orchestrator describes the run (`RunContext`: run type, interval, asset events, params);
`plan` answers with the cause, the provenance to record, and the batches to take from the
candidates the store offers. No I/O here, so every trigger path is a unit test.

- arrival / drift / performance (asset events) and schedule: a *live* run consumes the
  accepted batches no earlier live run trained on, oldest first, at most
  `max_batches_per_run`; with fewer than `min_new_rows` rows it waits for more data (unless
  forced). It trains on them and the history `training.window` adds (`training.window`).
- performance: like a live run, on the batches that arrived since the first breaching window
  was scored (its labelled rows, and newer data): older batches would teach the old concept.
- manual: like a live run; `batches` in the params names them instead, or `window_start` /
  `window_end` a window of data times (neither consumes), and `force` retrains on the newest
  batches when nothing is new or trains below `min_new_rows`.
- backfill: a *shadow* run over its interval, fired by the batches with data in
  [interval start, interval end) (their event times, the day of their date partition, else
  their arrival), newest `max_batches_per_run` of them, widened by the training window over
  the data before the interval's end; it consumes nothing and
  never moves the champion unless `promote` is set (and its data is newer, checked at decision).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from mlops_lib.spec import TriggerConfig
from mlops_lib.spec.window import TrainingWindow
from mlops_lib.training.window import NEW_BATCHES, RowSelection, WindowChoice, resolve

RunType = Literal["scheduled", "asset_triggered", "manual", "backfill", "asset_materialization"]
Cause = Literal["arrival", "drift", "performance", "schedule", "manual", "backfill"]


@dataclass(frozen=True)
class AssetEventInfo:
    """An asset event that triggered the run, as Airflow hands it over."""

    uri: str
    extra: dict[str, Any]
    source_dag_id: str | None = None
    source_run_id: str | None = None
    timestamp: str | None = None


@dataclass(frozen=True)
class RunContext:
    dag_run_id: str
    run_type: str
    interval_start: str | None = None
    interval_end: str | None = None
    asset_events: tuple[AssetEventInfo, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    triggered_by: str | None = None


@dataclass(frozen=True)
class Candidate:
    """An accepted batch the store offers for training."""

    batch_id: str
    rows: int
    arrived_at: str
    event_start: str | None = None  # its oldest event time (or its partition's day)
    event_end: str | None = None    # its newest event time

    @property
    def data_start(self) -> str:
        return self.event_start or self.arrived_at

    @property
    def data_end(self) -> str:
        return self.event_end or self.data_start


@dataclass(frozen=True)
class RunPlan:
    """The pure planning answer, before the store takes the batches (`steps.plan`)."""

    cause: Cause
    trigger: dict[str, Any]          # provenance: recorded in the store and on the MLflow run
    batch_ids: tuple[str, ...]       # the training window's batches
    consume: bool                    # mark the firing batches trained (live runs, new data)
    may_promote: bool                # False: a shadow run (decision recorded, champion kept)
    skip_reason: str | None = None   # set: nothing to train, the run ends here
    consumed: tuple[str, ...] = ()   # the new batches a live run consumes (within batch_ids)
    rows: RowSelection = RowSelection()  # which rows of the batches the training set keeps

    @property
    def summary(self) -> str:
        return describe(self.trigger)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def cause_of(ctx: RunContext, *, batches_uri: str, drift_uri: str,
             performance_uri: str | None = None) -> Cause:
    if ctx.run_type == "backfill":
        return "backfill"
    if ctx.run_type == "manual":
        return "manual"
    if ctx.run_type == "scheduled":
        return "schedule"
    uris = {e.uri for e in ctx.asset_events}
    if performance_uri is not None and performance_uri in uris:
        return "performance"
    return "drift" if drift_uri in uris else "arrival" if batches_uri in uris else "manual"


@dataclass(frozen=True)
class Widening:
    """`training.window` and what it may look back on (`training_window.resolve`)."""

    window: TrainingWindow = NEW_BATCHES
    history: Sequence[Candidate] = ()  # accepted batches, any arrival (filtered per run here)
    time_column: str | None = None     # the spec's event-time column
    seed: int = 0


def plan(ctx: RunContext, policy: TriggerConfig, *, new: Sequence[Candidate],
         in_interval: Sequence[Candidate], named: Sequence[Candidate], newest: Sequence[Candidate],
         batches_uri: str, drift_uri: str, performance_uri: str | None = None,
         widening: Widening = Widening()) -> RunPlan:
    """Decide the run's batches from the store's candidates.

    new: accepted, not consumed by a live run, arrived by the cutoff (oldest first);
    in_interval: accepted, with data in the run's interval (backfill) or the manual window;
    named: the accepted batches the params name (manual);
    newest: the newest accepted batches (a forced retrain);
    widening: the training window around the batches that fire a live or backfill run (a
    manual window and named batches are taken as asked).
    """
    cause = cause_of(ctx, batches_uri=batches_uri, drift_uri=drift_uri,
                     performance_uri=performance_uri)
    build = _Build(cause, _provenance(ctx, cause, batches_uri=batches_uri, drift_uri=drift_uri,
                                      performance_uri=performance_uri),
                   _widen(ctx, cause, widening, performance_uri))
    explicit = _explicit(ctx, cause, build, policy.max_batches_per_run, in_interval, named)
    if explicit is not None:
        return explicit
    if cause == "performance":  # the data since the drop began, not the old concept again
        since = drop_began(ctx, performance_uri)
        new = [c for c in new if since is None or c.arrived_at >= since]
        if not new:
            return build([], consume=False, may_promote=True,
                         skip=f"no accepted batch arrived since the performance drop began "
                              f"({since}): the labelled rows of the breaching windows were "
                              "not accepted as training data")
    return _live(ctx, policy, build, new, newest)


Widen = Callable[[Sequence[Candidate]], WindowChoice | None]


@dataclass(frozen=True)
class _Build:
    """Makes the RunPlan of the batches chosen (widened to the training window when the run
    has one), with the run's provenance."""

    cause: Cause
    trigger: dict[str, Any]
    widen: Widen = lambda chosen: None

    def __call__(self, chosen: Sequence[Candidate], *, consume: bool, may_promote: bool,
                 skip: str | None = None, widen: bool = True) -> RunPlan:
        window = None if skip or not chosen or not widen else self.widen(chosen)
        taken = list(chosen) if window is None else list(window.batches)
        ids = tuple(c.batch_id for c in taken)
        details = {**self.trigger, "batch_ids": list(ids),
                   "rows": sum(c.rows for c in taken),
                   "data_watermark": max((c.arrived_at for c in taken), default=None)}
        if window is not None:
            details["training_window"] = window.details
        if skip:
            details["skipped"] = skip
        consumed = tuple(c.batch_id for c in chosen) if consume and not skip else ()
        return RunPlan(cause=self.cause, trigger=details, batch_ids=() if skip else ids,
                       consume=consume and not skip, may_promote=may_promote,
                       skip_reason=skip, consumed=consumed,
                       rows=RowSelection() if window is None else window.rows)


def _widen(ctx: RunContext, cause: Cause, widening: Widening,
           performance_uri: str | None) -> Widen:
    """The window around a run's firing batches: a backfill looks back from its interval's
    end, a live run from its newest firing batch; a performance run only as far as the drop."""
    since = drop_began(ctx, performance_uri) if cause == "performance" else None

    def widen(firing: Sequence[Candidate]) -> WindowChoice:
        until = ctx.interval_end if cause == "backfill" else None
        if until is None:
            newest = max(c.arrived_at for c in firing)
            history = [c for c in widening.history if c.arrived_at <= newest
                       and (since is None or c.arrived_at >= since)]
        else:
            history = list(widening.history)
        return resolve(widening.window, firing, history, until=until,
                       time_column=widening.time_column, seed=widening.seed)
    return widen


def _explicit(ctx: RunContext, cause: Cause, build: _Build, cap: int,
              in_interval: Sequence[Candidate], named: Sequence[Candidate]) -> RunPlan | None:
    """Backfill, a manual window or named batches: the data asked for (nothing consumed);
    None for a run that takes the new data."""
    params = ctx.params or {}
    if cause == "backfill":
        chosen = list(in_interval)[-cap:]
        if not chosen:
            return build([], consume=False, may_promote=False,
                         skip=f"no accepted batch has data in [{ctx.interval_start}, "
                              f"{ctx.interval_end})")
        return build(chosen, consume=False, may_promote=bool(params.get("promote")))
    if cause == "manual" and (params.get("window_start") or params.get("window_end")):
        chosen = list(in_interval)[-cap:]
        if not chosen:
            return build([], consume=False, may_promote=False,
                         skip=f"no accepted batch has data in [{params.get('window_start')}, "
                              f"{params.get('window_end')})")
        return build(chosen, consume=False, may_promote=True, widen=False)
    if params.get("batches"):
        wanted = [str(b) for b in params["batches"]]
        found = {c.batch_id for c in named}
        missing = [b for b in wanted if b not in found]
        if missing:
            return build([], consume=False, may_promote=False,
                         skip=f"batches {missing} are not accepted batches of this pipeline")
        return build(list(named), consume=False, may_promote=True, widen=False)
    return None


def _live(ctx: RunContext, policy: TriggerConfig, build: _Build, new: Sequence[Candidate],
          newest: Sequence[Candidate]) -> RunPlan:
    """A run on the new data: oldest first, capped, consumed; or a reason to wait."""
    force = bool((ctx.params or {}).get("force"))
    cap = policy.max_batches_per_run
    chosen = list(new)[:cap]
    if not chosen:
        if force and newest:
            return build(list(newest)[-cap:], consume=False, may_promote=True)
        return build([], consume=False, may_promote=True,
                     skip="no accepted batch is new since the last training run")
    rows = sum(c.rows for c in chosen)
    if rows < policy.min_new_rows and not force:
        return build(chosen, consume=False, may_promote=True,
                     skip=f"waiting for more data: {rows} new rows < trigger.min_new_rows "
                          f"{policy.min_new_rows}")
    return build(chosen, consume=True, may_promote=True)


def _provenance(ctx: RunContext, cause: Cause, *, batches_uri: str, drift_uri: str,
                performance_uri: str | None) -> dict[str, Any]:
    params = ctx.params or {}
    trigger: dict[str, Any] = {"type": cause, "dag_run_id": ctx.dag_run_id,
                               "run_type": ctx.run_type}
    if ctx.interval_start or ctx.interval_end:
        trigger["interval"] = [ctx.interval_start, ctx.interval_end]
    if cause in ("manual", "backfill"):
        trigger |= {"user": ctx.triggered_by, "reason": params.get("reason") or "",
                    "force": bool(params.get("force")), "promote": bool(params.get("promote"))}
        if params.get("window_start") or params.get("window_end"):
            trigger["window"] = [params.get("window_start"), params.get("window_end")]
    uris = {"arrivals": batches_uri, "drift": drift_uri, "performance": performance_uri}
    for key, uri in uris.items():
        events = [_event(key, e) for e in ctx.asset_events if uri and e.uri == uri]
        if events:
            trigger[key] = events
    return trigger


def drop_began(ctx: RunContext, performance_uri: str | None) -> str | None:
    """When the first breaching window of the run's performance crossings was scored."""
    starts = [str(w["scored"][0])
              for e in ctx.asset_events if performance_uri and e.uri == performance_uri
              for w in (e.extra.get("evidence") or {}).get("windows", [])
              if w.get("breaches") and (w.get("scored") or [None])[0]]
    return min(starts, default=None)


def _event(kind: str, e: AssetEventInfo) -> dict[str, Any]:
    """What the run records of one triggering asset event (its provenance)."""
    if kind == "arrivals":
        return {"batch_id": e.extra.get("batch_id"), "fingerprint": e.extra.get("fingerprint"),
                "files": e.extra.get("files", []), "ingest_run_id": e.source_run_id,
                "at": e.timestamp}
    if kind == "drift":
        return {"reason": e.extra.get("reason"), "batch_ids": e.extra.get("batch_ids", []),
                "evidence": e.extra.get("evidence", {}), "monitor_run_id": e.source_run_id,
                "at": e.timestamp}
    return {"reason": e.extra.get("reason"), "model_version": e.extra.get("model_version"),
            "windows": e.extra.get("window_keys", []), "evidence": e.extra.get("evidence", {}),
            "labels_run_id": e.source_run_id, "at": e.timestamp}


def describe(trigger: Mapping[str, Any]) -> str:
    """One line for logs, run notes and the `ct.trigger` tag."""
    if trigger.get("type") == "s3_batch":  # runs recorded before training had its own DAG
        return f"S3 batch {trigger.get('batch_id')} ({len(trigger.get('files', []))} files)"
    batches = trigger.get("batch_ids") or []
    data = f"{len(batches)} batch(es) {', '.join(batches[:5])}" if batches else "no batches"
    if len(batches) > 5:  # a note stays one line; the run's plan in the store lists them all
        data += f" and {len(batches) - 5} more"
    window = trigger.get("training_window")
    if window and batches:
        data += f", {int(trigger.get('rows') or 0):,} rows (window: {window.get('describe')})"
    skipped = f"; skipped: {trigger['skipped']}" if trigger.get("skipped") else ""
    return f"{_why(trigger)}; trains on {data}{skipped}"


def _why(trigger: Mapping[str, Any]) -> str:
    kind = trigger.get("type", "unknown")
    crossings = trigger.get("drift", [])
    if kind == "arrival":
        return f"new data: {len(trigger.get('arrivals', []))} accepted batch event(s)"
    if kind == "drift" and crossings and all(
            (d.get("evidence") or {}).get("first_model") for d in crossings):
        return "first model: the pipeline has no champion yet"
    if kind == "drift":
        return "drift: " + "; ".join(str(d.get("reason")) for d in crossings)
    if kind == "performance":
        return "; ".join(str(d.get("reason")) for d in trigger.get("performance", [])) or (
            "fired on performance")
    if kind == "schedule":
        return f"schedule (interval {trigger.get('interval')})"
    if kind == "backfill":
        return _backfill_why(trigger)
    if kind == "manual":
        return f"manual by {trigger.get('user') or '?'}: {trigger.get('reason') or 'no reason'}"
    return str(kind)


def _backfill_why(trigger: Mapping[str, Any]) -> str:
    said = (f"backfill of {trigger.get('interval')} by {trigger.get('user') or '?'}"
            f"{' with promote' if trigger.get('promote') else ' (shadow)'}")
    if "judged_against" in trigger:  # steps.champion_of_time
        past = trigger["judged_against"]
        said += (f", judged against v{past['version']}, the champion of its time" if past
                 else ", when there was no champion yet")
    return said
