"""What the service tells a person and where (`alerts:`); see docs/alerting.md."""

from __future__ import annotations

from typing import Any, Literal, cast, get_args

from pydantic import Field, field_validator
from pydantic.dataclasses import dataclass

from mlops_lib.spec.base import SPEC_CONFIG, Count, Positive

AlertKind = Literal["rejected_batch", "drift_crossing", "performance_drop", "promotion",
                    "rollback", "pending_approval", "stale_data", "dag_failed"]
ALERT_KINDS = cast(tuple[AlertKind, ...], get_args(AlertKind))
ENV_PREFIX = "env:"


@dataclass(frozen=True, config=SPEC_CONFIG)
class NotifierConfig:
    """An Airflow notifier class (a provider's, such as Slack's or SMTP's) and its arguments."""

    path: str = Field(pattern=r"^[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
    """Its import path, e.g. airflow.providers.slack.notifications.slack.SlackNotifier."""
    kwargs: dict[str, Any] = Field(default_factory=dict)
    """Its arguments; Jinja in them sees the alert as {{ alert.summary }}, {{ alert.runbook }},
    {{ alert.details }}, {{ alert.kind }} and {{ message }} (the whole text)."""


@dataclass(frozen=True, config=SPEC_CONFIG)
class AlertsConfig:
    """The YAML `alerts:` section. Every alert is recorded in the store (`mlops alerts`);
    these keys say which are sent, where, and when data counts as stale."""

    freshness_sla_h: Positive | None = None
    """A stale_data alert when no batch was accepted for this many hours (the DAG
    ct_<name>_freshness checks it even when nothing else runs); null: no freshness check."""
    check_every_minutes: Count = 15
    """How often the freshness DAG runs."""
    webhooks: tuple[str, ...] = ()
    """URLs (http or https) to POST each alert to as JSON with a Slack-compatible `text`
    (a Slack incoming webhook works as is); `env:NAME` reads the URL from the environment
    variable NAME when the alert is sent, keeping secrets out of the spec."""
    notifiers: tuple[NotifierConfig, ...] = ()
    """Airflow notifiers (import path and kwargs) called with each alert sent."""
    kinds: tuple[AlertKind, ...] = ALERT_KINDS
    """The alert kinds that are sent (default: all); the others are only recorded."""
    runbook_url: str | None = None
    """Base URL of the runbooks (e.g. https://github.com/<org>/<repo>/blob/main/docs/runbooks/)
    for the links in messages; null: the path in the repository (docs/runbooks/<page>.md)."""
    run_deadline_minutes: Positive | None = None
    """A training DAG run still running this long after it was queued raises a dag_failed
    alert (an Airflow deadline alert); null: none."""

    @field_validator("webhooks")
    @classmethod
    def _urls(cls, hooks: tuple[str, ...]) -> tuple[str, ...]:
        for hook in hooks:
            name = hook.removeprefix(ENV_PREFIX)
            if hook.startswith(ENV_PREFIX):
                if not name.replace("_", "").isalnum():
                    raise ValueError(f"{hook!r}: env: needs an environment variable's name")
            elif not hook.startswith(("http://", "https://")):
                raise ValueError(f"{hook!r}: a webhook is an http(s):// URL or env:NAME")
        return hooks

    def sends(self, kind: str) -> bool:
        return kind in self.kinds
