"""An alert as a message: what happened, where to look, which runbook to open. The webhook
payload is JSON with a Slack-compatible `text` (a Slack incoming webhook shows it as is) and
the alert's fields for machines."""

from __future__ import annotations

from typing import Any

from mlops_lib.stores.alerts import AlertRecord

_ICONS = {"page": ":rotating_light:", "ticket": ":warning:", "info": ":information_source:"}


def render_text(alert: AlertRecord, *, resolved: bool = False) -> str:
    """Plain text with Slack's mrkdwn links (`<url|label>`) where a link is a URL."""
    head = f"{_ICONS.get(alert.severity, '')} [{alert.severity}] {alert.pipeline}: {alert.kind}"
    lines = [head.strip() + (" (resolved)" if resolved else ""), alert.summary]
    links = alert.details.get("links") or {}
    if links:
        lines.append("Where to look:")
        lines += [f"• {name.replace('_', ' ')}: {_link(str(url))}" for name, url in links.items()]
    url = str(alert.details.get("runbook_url") or alert.runbook)
    lines.append(f"Runbook: {alert.runbook}"
                 + ("" if url == alert.runbook else f" ({_link(url)})"))
    return "\n".join(lines)


def payload(alert: AlertRecord) -> dict[str, Any]:
    """What a webhook receives."""
    return {"text": render_text(alert, resolved=not alert.open),
            "pipeline": alert.pipeline, "kind": alert.kind, "subject": alert.subject,
            "severity": alert.severity, "summary": alert.summary, "runbook": alert.runbook,
            "runbook_url": alert.details.get("runbook_url", alert.runbook),
            "links": dict(alert.details.get("links") or {}), "created_at": alert.created_at,
            "resolved": not alert.open, "details": alert.details}


def _link(url: str) -> str:
    return f"<{url}>" if url.startswith(("http://", "https://")) else url
