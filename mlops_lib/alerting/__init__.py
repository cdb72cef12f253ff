"""Alerts: what the service tells a person, where, and which runbook to open.

`builders` makes an `AlertRecord` per kind, `notify` records it once and sends it once (the
spec's webhooks, the Airflow notifiers the plugins register), `freshness` judges the SLA.
"""

from mlops_lib.alerting.freshness import FreshnessVerdict, check_freshness, watch_freshness
from mlops_lib.alerting.kinds import KINDS, runbook_path, runbook_url
from mlops_lib.alerting.message import payload, render_text
from mlops_lib.alerting.notify import add_channel, deliver, notify, resolve
from mlops_lib.alerting.webhook import WebhookError, post_json

__all__ = ["KINDS", "FreshnessVerdict", "WebhookError", "add_channel", "check_freshness",
           "deliver", "notify", "payload", "post_json", "render_text", "resolve",
           "runbook_path", "runbook_url", "watch_freshness"]
