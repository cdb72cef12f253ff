"""Human approval of a promotion (spec `promotion: manual`), as plain data.

A pipeline with manual promotion asks a person before its champion moves: the training DAG's
`approve_promotion` task (Airflow's HITL ApprovalOperator, `ct_airflow.approval`) shows
`render_summary` and waits; `promote_champion` hands the answer, as `ApprovalOutcome`, to
`apply_approval`, which turns the gate's decision into the recorded one. Only a promotion is
ever asked for (`approval_skip_reason`): a gate that keeps needs nobody. A timeout counts as a
reject, and an answer that cannot be found never promotes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

APPROVE, REJECT = "Approve", "Reject"  # the options of Airflow's ApprovalOperator

ApprovalStatus = Literal["approved", "rejected", "timed_out", "missing"]


@dataclass(frozen=True)
class ApprovalOutcome:
    """A response to an approval request: what was chosen, by whom, when, and the comment."""

    approved: bool
    user: str | None = None        # the Airflow user who answered; None when it timed out
    user_id: str | None = None
    responded_at: str | None = None
    timed_out: bool = False
    comment: str = ""

    @property
    def status(self) -> ApprovalStatus:
        if self.timed_out:
            return "timed_out"
        return "approved" if self.approved else "rejected"

    @classmethod
    def from_response(cls, response: Mapping[str, Any]) -> ApprovalOutcome:
        """From the approval task's return value (the HITL response: `chosen_options`,
        `params_input`, `responded_by_user`, `responded_at`, and `timed_out`). No user means
        the timeout answered with the default (Reject): that never approves."""
        user = response.get("responded_by_user") or {}
        timed_out = bool(response.get("timed_out")) or not user.get("name")
        chosen = list(response.get("chosen_options") or [])
        at = response.get("responded_at")
        comment = (response.get("params_input") or {}).get("comment")
        return cls(approved=chosen == [APPROVE] and not timed_out,
                   user=None if timed_out else str(user["name"]),
                   user_id=None if timed_out or user.get("id") is None else str(user["id"]),
                   responded_at=at.isoformat() if isinstance(at, datetime)
                   else None if at is None else str(at),
                   timed_out=timed_out, comment=str(comment or "").strip())

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, **asdict(self)}


@dataclass(frozen=True)
class ApprovedDecision:
    """The decision to record after the approval step, and the approval for its details."""

    decision: str
    reason: str
    approval: dict[str, Any] | None   # details["approval"] of the decision row; None: not asked
    actor: str = "pipeline"           # who moves the champion on promote (the champion audit)


def approval_skip_reason(evaluation: Mapping[str, Any], reports: Mapping[str, Any],
                         plan: Mapping[str, Any]) -> str | None:
    """None when this run's promotion needs a person's approval; otherwise why nobody is asked
    (the run cannot promote anyway)."""
    if evaluation.get("decision") != "promote":
        return f"the gate says {evaluation.get('decision')}: nothing to approve"
    if reports.get("error"):
        return "no promotion without the run's reports (report missing)"
    if not plan.get("may_promote", True):
        return "a shadow run never promotes"
    return None


def apply_approval(decision: str, reason: str, outcome: ApprovalOutcome | None, *,
                   timeout_h: float) -> ApprovedDecision:
    """The recorded decision of a manual-promotion run, from the decision the gate (and the
    report and shadow rules) reached and the approval outcome (None: nobody answered).

    Approved: promote, moved by the approver. Rejected or timed out: `rejected`, champion kept.
    A promote with no recorded answer (the task was marked success by hand, say) fails closed:
    `keep`. Any other decision is not changed; an answer given anyway is kept in the details.
    """
    if decision != "promote":
        return ApprovedDecision(decision, reason, None if outcome is None else outcome.to_dict())
    if outcome is None:
        return ApprovedDecision(
            "keep", f"no promotion: promotion is manual and no approval was recorded; "
                    f"gate: {reason}", {"status": "missing"})
    comment = f": {outcome.comment}" if outcome.comment else ""
    if outcome.approved:
        assert outcome.user is not None
        return ApprovedDecision("promote", f"approved by {outcome.user}{comment}; {reason}",
                                outcome.to_dict(), actor=outcome.user)
    if outcome.timed_out:
        why = (f"rejected: no answer within approval_timeout_h {timeout_h:g} h (a timeout "
               "counts as a reject)")
    else:
        why = f"rejected by {outcome.user}{comment}"
    return ApprovedDecision("rejected", f"{why}; not promoted; gate: {reason}",
                            outcome.to_dict())


def render_summary(pipeline: str, evaluation: Mapping[str, Any], reports: Mapping[str, Any], *,
                   timeout_h: float, s3_http_base: str | None = None,
                   index_uri: str | None = None) -> str:
    """The approval request's body (Markdown): the gate's decision, metrics, bootstrap CI,
    slices and reasons, and links to the run's reports and the pipeline's index page.

    `s3_http_base` (the S3 endpoint URL) adds an HTTP link for each `s3://` URI."""
    verdict = evaluation.get("verdict") or {}
    cand, base = evaluation.get("candidate_version"), evaluation.get("baseline_version")
    champion = f"champion v{base}" if base is not None else "no champion yet"
    lines = [*_metrics_table(pipeline, evaluation, verdict, champion),
             *_bootstrap_lines(verdict.get("bootstrap")),
             *_slice_lines(verdict.get("slices") or []),
             *_baseline_error_lines(verdict.get("baseline_error")),
             "", "**Reasons**", "",
             *[f"- {r}" for r in verdict.get("reasons") or [evaluation.get("reason", "")]],
             "", "**Reports**", "",
             *_report_links(pipeline, evaluation, reports, s3_http_base, index_uri),
             "", f"**Approve** makes v{cand} the champion. **Reject**, or no answer within "
                 f"{timeout_h:g} h, keeps {champion}. The answer and its comment are recorded "
                 "with the decision."]
    return "\n".join(lines)


def _metrics_table(pipeline: str, evaluation: Mapping[str, Any], verdict: Mapping[str, Any],
                   champion: str) -> list[str]:
    """The headline (the gate's decision) and every metric of both models."""
    metric = str(evaluation.get("metric", verdict.get("metric", "metric")))
    cand = evaluation.get("candidate_version")
    lines = [f"**{pipeline}**: the gate says **{str(evaluation.get('decision')).upper()}** "
             f"challenger v{cand} ({champion}). Primary metric `{metric}` "
             f"({verdict.get('direction', '')}), {evaluation.get('holdout_rows', '?')} "
             "holdout rows.", "",
             f"| metric | challenger v{cand} | {champion} |", "|---|---|---|"]
    theirs = verdict.get("baseline_metrics") or {}
    for name, value in sorted((verdict.get("candidate_metrics") or {}).items()):
        lines.append(f"| {name}{' (primary)' if name == metric else ''} | {_num(value)} | "
                     f"{_num(theirs.get(name))} |")
    return lines


def _bootstrap_lines(boot: Mapping[str, Any] | None) -> list[str]:
    if not boot:
        return []
    return ["", f"Paired bootstrap ({boot.get('n_valid')} of {boot.get('n_boot')} "
                f"resamples): challenger - champion {_num(boot.get('diff'), '+.4f')}, "
                f"{_num(100 * float(boot.get('confidence', 0)), '.0f')}% CI "
                f"[{_num(boot.get('ci_low'), '+.4f')}, {_num(boot.get('ci_high'), '+.4f')}];"
                f" improvement lower bound {_num(boot.get('improvement_low'), '+.4f')}."]


def _slice_lines(slices: list[Mapping[str, Any]]) -> list[str]:
    if not slices:
        return []
    violated = [f"{s['column']}={s['value']}" for s in slices if s.get("status") == "violated"]
    return ["", f"Slices: {len(slices)} checked, {len(violated)} violated"
                f"{': ' + ', '.join(violated) if violated else ''}."]


def _baseline_error_lines(error: str | None) -> list[str]:
    return ["", f"Champion could not be scored: {error}"] if error else []


def _report_links(pipeline: str, evaluation: Mapping[str, Any], reports: Mapping[str, Any],
                  s3_http_base: str | None, index_uri: str | None) -> list[str]:
    """The run's HTML reports (in MLflow and on S3), its MLflow page and the index page."""
    lines = []
    run_page = reports.get("run_page")
    named = {**(reports.get("reports") or {}), **(evaluation.get("performance_reports") or {})}
    for name, uri in sorted(named.items()):
        if not str(name).endswith(".html"):
            continue
        links = [f"[MLflow]({run_page}/reports/{name})"] if run_page else []
        links += _s3_links(str(uri), s3_http_base)
        lines.append(f"- {name}: {' · '.join(links)}")
    if run_page:
        lines.append(f"- MLflow run: [artifacts]({run_page})")
    if index_uri:
        lines.append(f"- every run of {pipeline}: index page "
                     f"{' · '.join(_s3_links(index_uri, s3_http_base))}")
    return lines


def _s3_links(uri: str, http_base: str | None) -> list[str]:
    links = [f"`{uri}`"]
    if http_base and uri.startswith("s3://"):
        links.append(f"[http]({http_base.rstrip('/')}/{uri.removeprefix('s3://')})")
    return links


def _num(value: Any, fmt: str = ".4f") -> str:
    if value is None or isinstance(value, bool):
        return "n/a"
    try:
        return format(float(value), fmt)
    except (TypeError, ValueError):
        return str(value)
