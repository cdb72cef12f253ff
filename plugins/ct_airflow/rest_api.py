"""A small client for Airflow 3's REST API (/api/v2), used by the demo, tests and tools.

Plain HTTP on purpose: `mlops_lib` never imports Airflow.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any
from urllib.parse import quote


class AirflowApi:
    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._credentials = {"username": username, "password": password}
        self._token: str | None = None

    def _request(self, method: str, path: str,
                 body: dict[str, Any] | None = None) -> dict[str, Any]:
        if self._token is None:
            self._token = self._post_json("/auth/token", self._credentials)["access_token"]
        req = urllib.request.Request(
            f"{self.base_url}{path}", method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {self._token}",
                     "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            answer: dict[str, Any] = json.load(resp)
            return answer

    def _post_json(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(f"{self.base_url}{path}", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.load(resp)

    def dag(self, dag_id: str) -> dict[str, Any]:
        return self._request("GET", f"/api/v2/dags/{dag_id}")

    def import_errors(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/api/v2/importErrors")["import_errors"])

    def unpause(self, dag_id: str) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def dag_runs(self, dag_id: str, *, state: str | None = None,
                 limit: int = 50) -> list[dict[str, Any]]:
        query = f"?limit={limit}&order_by=-run_after" + (f"&state={state}" if state else "")
        return list(self._request("GET", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns{query}"
                             )["dag_runs"])

    def dag_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self._request("GET", _run_path(dag_id, run_id))

    def backfills(self, dag_id: str) -> list[dict[str, Any]]:
        """The DAG's backfills; `completed_at` is set once the scheduler has finished one."""
        return list(self._request("GET", f"/api/v2/backfills?dag_id={quote(dag_id, safe='')}"
                             )["backfills"])

    def trigger(self, dag_id: str, conf: dict[str, Any], *,
                note: str | None = None) -> dict[str, Any]:
        """Start a run now (no logical date) with `conf` as its params; the new run."""
        return self._request("POST", f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns",
                             {"logical_date": None, "conf": conf,
                              **({"note": note} if note else {})})

    def set_note(self, dag_id: str, run_id: str, note: str) -> None:
        self._request("PATCH", _run_path(dag_id, run_id), {"note": note})

    def upstream_asset_events(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The asset events that triggered the run (with their `timestamp`)."""
        return list(self._request(
            "GET", f"{_run_path(dag_id, run_id)}/upstreamAssetEvents")["asset_events"])

    def extra_links(self, dag_id: str, run_id: str, task_id: str, *,
                    map_index: int = -1) -> dict[str, str | None]:
        """A task instance's extra links, name -> URL, as the UI's buttons open them."""
        return dict(self._request(
            "GET", f"{_run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}/links"
                   f"?map_index={map_index}")["extra_links"])

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every task instance of the run, mapped ones included (the API pages by 100)."""
        found: list[dict[str, Any]] = []
        while True:
            page = self._request("GET", f"{_run_path(dag_id, run_id)}/taskInstances"
                                        f"?limit=100&offset={len(found)}")
            found += page["task_instances"]
            if not page["task_instances"] or len(found) >= page["total_entries"]:
                return found

    def hitl_detail(self, dag_id: str, run_id: str, task_id: str, *,
                    map_index: int = -1) -> dict[str, Any]:
        """A task's Human-in-the-loop request (subject, body, options) and its response, if
        any (`response_received`, `chosen_options`, `responded_by_user`)."""
        return self._request("GET", _hitl_path(dag_id, run_id, task_id, map_index))

    def hitl_detail_of_try(self, dag_id: str, run_id: str, task_id: str, try_number: int, *,
                           map_index: int = -1) -> dict[str, Any]:
        """The Human-in-the-loop request and response of one earlier try of a task."""
        return self._request("GET", f"{_hitl_path(dag_id, run_id, task_id, map_index)}"
                                    f"/tries/{try_number}")

    def respond_hitl(self, dag_id: str, run_id: str, task_id: str, chosen_options: list[str],
                     params_input: dict[str, Any] | None = None, *,
                     map_index: int = -1) -> dict[str, Any]:
        """Answer a task waiting for a human (an ApprovalOperator: ["Approve"] or ["Reject"])
        as this client's user; Airflow records who answered and resumes the task. A second
        answer is refused (HTTP 409)."""
        return self._request("PATCH", _hitl_path(dag_id, run_id, task_id, map_index),
                             {"chosen_options": chosen_options,
                              "params_input": params_input or {}})

    def clear_task(self, dag_id: str, run_id: str, task_id: str, *,
                   map_index: int = -1) -> list[dict[str, Any]]:
        """Clear one task instance of a run (a mapped one by its `map_index`) so that it runs
        again, as the UI's "Clear" does; the run is set back to queued. Returns the task
        instances cleared."""
        target: str | list[Any] = task_id if map_index < 0 else [task_id, map_index]
        body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [target],
                "only_failed": False, "reset_dag_runs": True, "include_downstream": False}
        return list(self._request(
            "POST", f"/api/v2/dags/{quote(dag_id, safe='')}/clearTaskInstances",
            body)["task_instances"])

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1, *,
                 map_index: int = -1) -> str:
        """The task's log as text (Airflow 3 returns structured events; joined here). Mapped
        tasks (the ingest DAG's `batch.*`) need their `map_index`."""
        body = self._request(
            "GET", f"{_run_path(dag_id, run_id)}/taskInstances/{task_id}/logs/{try_number}"
                   f"?full_content=true&map_index={map_index}")
        content = body.get("content", "")
        if isinstance(content, list):
            return "\n".join(_log_line(e) for e in content)
        return str(content)


def _run_path(dag_id: str, run_id: str) -> str:
    return f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"


def _hitl_path(dag_id: str, run_id: str, task_id: str, map_index: int) -> str:
    return (f"{_run_path(dag_id, run_id)}/taskInstances/{quote(task_id, safe='')}/{map_index}"
            "/hitlDetails")


def _log_line(event: Any) -> str:
    if not isinstance(event, dict):
        return str(event)
    line = str(event.get("event", ""))
    for err in event.get("error_detail") or []:
        if isinstance(err, dict):
            line += f"\n  {err.get('exc_type')}: {err.get('exc_value')}"
    return line
