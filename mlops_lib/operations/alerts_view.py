"""`mlops alerts <pipeline>`: what the service told the operators, newest first."""

from __future__ import annotations

from typing import Any

from mlops_lib.stores.alerts import AlertRecord


def alert_line(alert: AlertRecord) -> str:
    state = "open" if alert.open else f"resolved {alert.resolved_at}"
    delivery = ("delivered" if alert.delivered_at else
                f"NOT delivered: {alert.delivery_error}" if alert.delivery_error else
                "not sent")
    return (f"{alert.created_at}  {alert.severity:<6} {alert.kind:<16} {alert.subject}  "
            f"[{state}; {delivery}]\n    {alert.summary}\n    runbook: {alert.runbook}")


def alert_lines(alerts: list[AlertRecord], *, open_only: bool) -> list[str]:
    if not alerts:
        return ["no open alerts" if open_only else "no alerts yet"]
    return [alert_line(a) for a in alerts]


def alert_dict(alert: AlertRecord) -> dict[str, Any]:
    from dataclasses import asdict

    return {**asdict(alert), "open": alert.open}
