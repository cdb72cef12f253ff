"""Raise an alert once and send it once: the store keeps it (keyed by pipeline, kind and
subject), then the spec's webhooks and the registered channels (the Airflow notifiers of
`alerts.notifiers`, added by the plugins) get it. An alert never fails what raised it: a
store or delivery failure is logged, and a delivery failure recorded on the alert, whose
next raise (a retried task, the next freshness check) tries to deliver it again."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from mlops_lib.alerting.message import payload
from mlops_lib.alerting.webhook import post_json, resolve_url, shown
from mlops_lib.spec import PipelineSpec
from mlops_lib.spec.alerts import AlertsConfig
from mlops_lib.stores.alerts import AlertRecord, AlertTables

log = logging.getLogger(__name__)

Channel = Callable[[AlertsConfig, AlertRecord, dict[str, Any]], None]
"""Sends one alert somewhere (its config, the alert as stored, the webhook payload); raises
on failure."""
_CHANNELS: list[Channel] = []


def add_channel(channel: Channel) -> None:
    """Register a channel for every alert sent in this process (once per channel)."""
    if channel not in _CHANNELS:
        _CHANNELS.append(channel)


def notify(store: AlertTables, spec: PipelineSpec, alert: AlertRecord, *,
           resolved: bool = False) -> AlertRecord | None:
    """Record `alert` (resolved at once if asked: informational ones) and deliver it unless it
    was delivered before; the alert as stored, None when the store could not take it."""
    try:
        stored, created = store.raise_alert(alert, resolved=resolved)
    except Exception as exc:
        log.error("Alert %s/%s of %s not recorded (%s: %s): %s", alert.kind, alert.subject,
                  alert.pipeline, type(exc).__name__, exc, alert.summary)
        return None
    log.log(logging.WARNING if created else logging.INFO, "Alert %s %s: %s",
            stored.kind, "raised" if created else "raised before", stored.summary)
    if stored.delivered_at is not None or not _is_sent(spec.alerts, stored.kind):
        return stored
    assert spec.alerts is not None
    error = deliver(spec.alerts, stored)
    try:
        store.mark_delivered(stored, error)
        return store.get_alert(stored.pipeline, stored.kind, stored.subject) or stored
    except Exception as exc:
        log.error("Delivery of alert %s/%s not recorded: %s: %s", stored.kind, stored.subject,
                  type(exc).__name__, exc)
        return stored


def deliver(config: AlertsConfig, alert: AlertRecord) -> str | None:
    """Send to every webhook and channel; None when all took it, else what failed."""
    body = payload(alert)
    errors: list[str] = []
    for hook in config.webhooks:
        try:
            post_json(resolve_url(hook), body)
            log.info("Alert %s/%s sent to %s", alert.kind, alert.subject, shown(hook))
        except Exception as exc:
            errors.append(f"{shown(hook)}: {exc}")
    for channel in _CHANNELS:
        try:
            channel(config, alert, body)
        except Exception as exc:
            errors.append(f"{getattr(channel, '__name__', 'channel')}: "
                          f"{type(exc).__name__}: {exc}")
    for error in errors:
        log.error("Alert %s/%s not delivered: %s", alert.kind, alert.subject, error)
    return "; ".join(errors)[:4000] or None


def resolve(store: AlertTables, pipeline: str, kinds: list[str],
            subject: str | None = None) -> int:
    """Close open alerts whose situation is over; never raises (0 on a store failure)."""
    try:
        closed = store.resolve_alerts(pipeline, kinds, subject)
    except Exception as exc:
        log.error("Alerts %s of %s not resolved: %s: %s", kinds, pipeline,
                  type(exc).__name__, exc)
        return 0
    if closed:
        log.info("Resolved %d open %s alert(s) of %s", closed, "/".join(kinds), pipeline)
    return closed


def _is_sent(config: AlertsConfig | None, kind: str) -> bool:
    return (config is not None and config.sends(kind)
            and bool(config.webhooks or (config.notifiers and _CHANNELS)))
