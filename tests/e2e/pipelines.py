"""The pipelines each e2e module runs, written as spec files into a stack's pipelines folder.

Modules that share a stack (tests/e2e/conftest.py) have pipelines of their own names and
landing prefixes (the strict ones a landing bucket of their own), so that what one module drops
never reaches another's DAGs."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.event_time import COLUMN, DAYS, with_event_time
from tests.support import EXAMPLE_SPEC, HOUSE_SPEC, PIPELINES_DIR, free_port

CYCLE = "credit_default"      # test_cycle: retrains on every accepted batch (arrival)
DRIFTING = "credit_drift"     # test_cycle: retrains on drift crossings and daily
HOUSE = "house_prices"        # test_cycle: CSV with a manifest, regression
MANUAL = "credit_manual"      # test_manual_approval: promotion waits for a person
EVENTS = "credit_events"      # test_events: S3 notification -> SQS -> AssetWatcher
SCORING = "credit_shadow"     # test_scoring: scores unlabelled batches, the challenger in shadow
LOOP = "credit_loop"          # test_feedback_loop: late labels, performance, live challengers
TIMED = "credit_timed"        # test_event_time_window: an event-time column and a sliding window
QUIET = "credit_quiet"        # test_freshness_alert: no batch ever lands; its freshness SLA fires
TIMED_COLUMN, TIMED_DAYS, TIMED_MIN_NEW_ROWS = COLUMN, DAYS, 4000
STRICT_PARQUET = "strict_parquet"  # test_bad_inputs: the credit example, stricter contract
STRICT_CSV = "strict_csv"          # test_bad_inputs: the house-prices example
# test_bad_inputs checks that nothing but its batches and their quarantine copies is in its
# landing bucket: a bucket of its own keeps that check whole on a shared stack.
STRICT_BUCKET = "ct-landing-strict"
MAX_FILE_BYTES = 1_000_000  # the strict parquet pipeline's file size limit
# The stack reads the quiet pipeline's webhook from its spec, written before the stack starts;
# test_freshness_alert starts its receiver on this port.
QUIET_HOOK_PORT = free_port()
QUIET_SLA_H = 0.005  # 18 s


def _write(directory: Path, *specs: dict[str, object]) -> Path:
    """Write the specs; those not named for scoring lose the example's `scoring:` section, so
    that a shared stack runs the scoring DAGs of credit_default, test_scoring and
    test_feedback_loop only."""
    directory.mkdir(parents=True, exist_ok=True)
    for raw in specs:
        if raw["name"] not in (CYCLE, SCORING, LOOP):
            raw = {k: v for k, v in raw.items() if k != "scoring"}
        (directory / f"{raw['name']}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return directory


def write_cycle_pipelines(directory: Path) -> Path:
    """The example specs, with the arrival pipeline retraining on every batch and a drift-only
    copy (its own landing prefix, no cooldown) for the drift tests."""
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    arrival = {**raw, "trigger": {"poke_interval_s": 1, "retrain_on": ["arrival"]}}
    drifting = {**raw, "name": DRIFTING,
                "source": {**raw["source"], "prefix": f"landing/{DRIFTING}/"},
                "trigger": {"poke_interval_s": 1, "retrain_on": ["drift"],
                            "schedule": "@daily",
                            "drift": {"share_drifted": 0.5, "cooldown_minutes": 0}}}
    _write(directory, arrival, drifting)  # credit_default scores from scoring/credit_default/
    (directory / f"{HOUSE}.yaml").write_text(HOUSE_SPEC.read_text())
    return directory


def write_window_pipeline(directory: Path) -> Path:
    """The example with the time each application was made (role event_time), training on the
    45 days up to its newest data; a run waits for 4,000 new rows, so history landed at once
    is taken by one run."""
    raw = with_event_time(yaml.safe_load(EXAMPLE_SPEC.read_text()))
    raw.update(name=TIMED, source={**raw["source"], "prefix": f"landing/{TIMED}/"},
               trigger={"poke_interval_s": 1, "retrain_on": ["arrival"],
                        "min_new_rows": TIMED_MIN_NEW_ROWS})
    return _write(directory, raw)


def write_manual_pipeline(directory: Path) -> Path:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw.update(name=MANUAL, source={**raw["source"], "prefix": f"landing/{MANUAL}/"},
               trigger={"poke_interval_s": 1, "retrain_on": ["arrival"]},
               promotion="manual", approval_timeout_h=2)
    return _write(directory, raw)


def write_scoring_pipeline(directory: Path) -> Path:
    """The example retraining on every batch, scoring from `scoring/credit_shadow/` with
    the challenger in shadow. (Its name gives datagen a concept whose values the example's
    contract accepts: not every name does.)"""
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw.update(name=SCORING, source={**raw["source"], "prefix": f"landing/{SCORING}/"},
               trigger={"poke_interval_s": 1, "retrain_on": ["arrival"]},
               scoring={**raw["scoring"], "shadow": True})
    return _write(directory, raw)


def write_events_pipeline(directory: Path) -> Path:
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw.update(name=EVENTS, source={**raw["source"], "prefix": f"landing/{EVENTS}/"},
               trigger={"mode": "events", "sqs_queue": "ct-credit-events",
                        "retrain_on": ["arrival"]})
    return _write(directory, raw)


def write_strict_pipelines(directory: Path) -> Path:
    """Both examples retraining on every batch, the credit one with freshness (a datetime
    column), a tolerated share of new categories, a file size limit and extra columns refused."""
    credit = yaml.safe_load(EXAMPLE_SPEC.read_text())
    features = [f | {"max_new_category_share": 0.05} if f["name"] == "region" else f
                for f in credit["features"]]
    parquet = {**credit, "name": STRICT_PARQUET,
               "source": {**credit["source"], "bucket": STRICT_BUCKET,
                          "prefix": f"landing/{STRICT_PARQUET}/",
                          "max_file_bytes": MAX_FILE_BYTES},
               "features": [*features, {"name": "applied_at", "dtype": "datetime"}],
               "contract": {**credit["contract"], "extra_columns": "reject",
                            "freshness": {"column": "applied_at", "max_age_hours": 48,
                                          "allow_future_minutes": 60}},
               "trigger": {"poke_interval_s": 1, "retrain_on": ["arrival"]}}
    house = yaml.safe_load(HOUSE_SPEC.read_text())
    csv = {**house, "name": STRICT_CSV,
           "source": {**house["source"], "bucket": STRICT_BUCKET,
                      "prefix": f"landing/{STRICT_CSV}/"},
           "trigger": {"poke_interval_s": 1, "retrain_on": ["arrival"]}}
    return _write(directory, parquet, csv)


def write_loop_pipeline(directory: Path) -> Path:
    """The loop demo's own spec (pipelines/credit_loop.yaml: ids on its scored rows, late labels,
    retraining on drift and on performance drops, live rows before a promotion, rollback),
    polling every second."""
    raw = yaml.safe_load((PIPELINES_DIR / f"{LOOP}.yaml").read_text())
    raw["trigger"] = {**raw["trigger"], "poke_interval_s": 1}
    return _write(directory, raw)


def write_quiet_pipeline(directory: Path) -> Path:
    """The example with a freshness SLA of seconds and a webhook to the test's receiver. Its
    freshness DAG runs hourly (the test triggers it): a check every minute would cost the
    other modules on the shared stack CPU for nothing."""
    raw = yaml.safe_load(EXAMPLE_SPEC.read_text())
    raw.update(name=QUIET, source={**raw["source"], "prefix": f"landing/{QUIET}/"},
               trigger={"poke_interval_s": 30, "retrain_on": ["arrival"]},
               alerts={"freshness_sla_h": QUIET_SLA_H, "check_every_minutes": 60,
                       "webhooks": [f"http://127.0.0.1:{QUIET_HOOK_PORT}/hooks/alerts"],
                       "kinds": ["stale_data"]})
    return _write(directory, raw)
