"""Waits until stored drift crosses a pipeline's drift policy (spec `trigger.drift`).

For DAGs users wire themselves: the sensor (worker) and the trigger (triggerer) read the same
`drift_metrics` rows through `StoreHook` and take one decision, `mlops_lib.monitoring.drift_policy`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue
from airflow.sdk.exceptions import AirflowException
from airflow.triggers.base import BaseTrigger, TriggerEvent

from ct_airflow.store_hook import StoreHook
from mlops_lib.monitoring.drift_policy import (
    DriftVerdict,
    drift_metrics_since_sql,
    evaluate_rows,
    policy_of,
    policy_to_dict,
)
from mlops_lib.spec import DriftPolicy

if TYPE_CHECKING:
    from airflow.sdk import Context


def decide(rows: Sequence[Mapping[str, Any]], policy: Mapping[str, Any], *,
           last_crossing_at: str | None) -> DriftVerdict:
    """The decision of both poke and trigger, taken now."""
    return evaluate_rows(rows, policy, last_crossing_at=last_crossing_at,
                         now=datetime.now(UTC))


def _query_params(pipeline: str, since: str) -> dict[str, str]:
    return {"pipeline": pipeline, "since": since}


class DriftThresholdTrigger(BaseTrigger):
    """Fires once the drift rows stored since `since` cross `policy`.

    Stateless: the policy, the window and the last crossing are all kwargs, so a triggerer
    restart that runs it again reaches the same verdict on the same rows. `store_url` None
    means the triggerer's own CT_STORE_URL (keeps credentials out of the trigger table).
    """

    def __init__(self, *, pipeline: str, policy: DriftPolicy | Mapping[str, Any], since: str,
                 last_crossing_at: str | None, store_url: str | None = None,
                 poke_interval: float = 5.0) -> None:
        super().__init__()
        self.pipeline = pipeline
        self.policy = policy_to_dict(policy_of(policy))
        self.since = since
        self.last_crossing_at = last_crossing_at
        self.store_url = store_url
        self.poke_interval = poke_interval

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            "ct_airflow.drift_sensor.DriftThresholdTrigger",
            {
                "pipeline": self.pipeline,
                "policy": self.policy,
                "since": self.since,
                "last_crossing_at": self.last_crossing_at,
                "store_url": self.store_url,
                "poke_interval": self.poke_interval,
            },
        )

    def hook(self) -> StoreHook:
        return StoreHook(store_url=self.store_url)

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            hook = self.hook()
            sql = drift_metrics_since_sql()
            params = _query_params(self.pipeline, self.since)
            async with hook.async_engine() as engine:
                while True:
                    rows = await hook.fetch_all_async(engine, sql, params)
                    verdict = decide(rows, self.policy, last_crossing_at=self.last_crossing_at)
                    if verdict.crossed:
                        yield TriggerEvent({"status": "success", "verdict": verdict.to_dict()})
                        return
                    self.log.debug("%s: %s", self.pipeline, verdict.reason)
                    await asyncio.sleep(self.poke_interval)
        except Exception as exc:  # surfaced to the sensor, which fails the task with it
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})


class DriftThresholdSensor(BaseSensorOperator):
    """Waits until the pipeline's stored drift crosses `policy`; returns the verdict as XCom.

    Reads rows stored at or after `since` (default: the last recorded crossing, so batches
    already acted on are not counted again). The cooldown counts from `last_crossing_at`
    (default: the newest row of `drift_crossings`). Deferrable by default: one cheap poke,
    then the wait happens in the triggerer.
    """

    template_fields: Sequence[str] = ("pipeline", "since", "last_crossing_at")
    ui_color = "#f5d7c8"

    def __init__(self, *, pipeline: str, policy: DriftPolicy | Mapping[str, Any],
                 since: str | None = None, last_crossing_at: str | None = None,
                 store_url: str | None = None, deferrable: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.policy = policy_to_dict(policy_of(policy))
        self.since = since
        self.last_crossing_at = last_crossing_at
        self.store_url = store_url
        self.deferrable = deferrable

    def window(self) -> tuple[str, str | None]:
        """(since, last_crossing_at), the store's last crossing filling what was not given."""
        if self.since is not None and self.last_crossing_at is not None:
            return self.since, self.last_crossing_at
        last = self._last_crossing_at()
        since = self.since if self.since is not None else (last or "")
        return since, self.last_crossing_at if self.last_crossing_at is not None else last

    def _last_crossing_at(self) -> str | None:
        from mlops_lib.stores.store import Store

        last = Store(StoreHook(store_url=self.store_url).store_url).last_drift_crossing(
            self.pipeline)
        return None if last is None else str(last["created_at"])

    def poke(self, context: Context) -> PokeReturnValue:
        return self._poke(*self.window())

    def _poke(self, since: str, last_crossing_at: str | None) -> PokeReturnValue:
        rows = StoreHook(store_url=self.store_url).fetch_all(
            drift_metrics_since_sql(), _query_params(self.pipeline, since))
        verdict = decide(rows, self.policy, last_crossing_at=last_crossing_at)
        self.log.info("%s: %s", self.pipeline, verdict.reason)
        return PokeReturnValue(is_done=verdict.crossed,
                               xcom_value=verdict.to_dict() if verdict.crossed else None)

    def execute(self, context: Context) -> Any:
        if not self.deferrable:
            return super().execute(context)
        since, last_crossing_at = self.window()
        first = self._poke(since, last_crossing_at)
        if first.is_done:
            return first.xcom_value
        self.defer(
            trigger=DriftThresholdTrigger(pipeline=self.pipeline, policy=self.policy,
                                          since=since, last_crossing_at=last_crossing_at,
                                          store_url=self.store_url,
                                          poke_interval=self.poke_interval),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout) if self.timeout else None,
        )

    def execute_complete(self, context: Context, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("status") != "success":
            raise AirflowException(f"Drift threshold trigger failed: {event.get('message')}")
        verdict: dict[str, Any] = event["verdict"]
        self.log.info("%s: %s", self.pipeline, verdict["reason"])
        return verdict
