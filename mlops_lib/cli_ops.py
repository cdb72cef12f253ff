"""The on-call operator's commands: `status`, `reports`, `quarantine`, `alerts` (issue 18), `gc`
(issue 19)."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops_lib.settings import Settings
    from mlops_lib.spec import PipelineSpec

COMMANDS: tuple[str, ...] = ("status", "reports", "quarantine", "alerts", "gc")


def add_commands(sub: Any) -> None:
    """Declare the operator's commands on an `argparse` sub-command group."""
    status = sub.add_parser("status", help="every pipeline (or one): champion, last batch, "
                                           "decision, alerts, approvals, quarantine, what the "
                                           "next run waits for; and the services' health")
    status.add_argument("pipeline", nargs="?", default=None,
                        help="the pipeline's name (default: every pipeline)")
    status.add_argument("--json", action="store_true", help="print JSON instead of lines")

    rep = sub.add_parser("reports", help="the runs and batches with reports, or one's reports "
                                         "(open or download them)")
    rep.add_argument("pipeline", help="the pipeline's name")
    rep.add_argument("run", nargs="?", default=None,
                     help="a DAG run id, or a batch id (its drift report)")
    rep.add_argument("--download", metavar="DIR", default=None, help="fetch them into DIR")
    rep.add_argument("--open", action="store_true",
                     help="download to a temp folder and open the HTML report in a browser")
    rep.add_argument("--json", action="store_true", help="print JSON instead of lines")

    quar = sub.add_parser("quarantine", help="the batches a pipeline refused; replay one")
    quar_sub = quar.add_subparsers(dest="quarantine_command", required=True)
    listed = quar_sub.add_parser("list", help="quarantined batches not accepted since")
    listed.add_argument("pipeline", help="the pipeline's name")
    listed.add_argument("--json", action="store_true", help="print JSON instead of lines")
    show = quar_sub.add_parser("show", help="why a batch was refused, and its replays")
    show.add_argument("pipeline", help="the pipeline's name")
    show.add_argument("batch", help="the batch id")
    show.add_argument("--json", action="store_true", help="print JSON instead of lines")
    rerun = quar_sub.add_parser("replay", help="re-validate a quarantined batch after the "
                                               "producer fixed it (audited; nothing deleted)")
    rerun.add_argument("pipeline", help="the pipeline's name")
    rerun.add_argument("batch", help="the batch id")
    rerun.add_argument("--reason", required=True, help="why; recorded with your user")
    rerun.add_argument("--from", dest="source", choices=("landing", "quarantine"),
                       default="landing",
                       help="landing: the batch's landing folder now (a fixed upload, "
                            "default); quarantine: the quarantine copy (after a spec change)")
    rerun.add_argument("--actor", default=None, help="who (default: $USER)")

    alerts = sub.add_parser("alerts", help="a pipeline's alerts, newest first")
    alerts.add_argument("pipeline", help="the pipeline's name")
    alerts.add_argument("--open", action="store_true", help="only the open ones")
    alerts.add_argument("--json", action="store_true", help="print JSON instead of lines")

    gc = sub.add_parser("gc", help="remove the scratch folders that crashed or ended runs "
                                   "left (<home>/runs); never a running run's")
    gc.add_argument("--older-than", type=float, default=24.0, metavar="HOURS",
                    help="also remove folders unchanged for HOURS (default 24, at least 6)")
    gc.add_argument("--dry-run", action="store_true", help="list what would go; remove nothing")
    gc.add_argument("--json", action="store_true", help="print JSON instead of lines")


def run(args: argparse.Namespace) -> int:
    from mlops_lib.settings import Settings

    settings = Settings.from_env()
    if args.command == "status":
        return _status(settings, args.pipeline, as_json=args.json)
    if args.command == "alerts":
        return _alerts(settings, args)
    if args.command == "reports":
        return _reports(settings, args)
    if args.command == "gc":
        return _gc(settings, args)
    return _quarantine(settings, args)


def progress_printer() -> Callable[[str], None]:
    """A progress callback for long commands: each stage on stderr, with the seconds since
    the command began (`[12.3s] fetching data version ... from DVC`)."""
    began = time.monotonic()

    def say(stage: str) -> None:
        print(f"[{time.monotonic() - began:.1f}s] {stage}", file=sys.stderr, flush=True)

    return say


def _specs(settings: Settings, pipeline: str | None) -> list[PipelineSpec] | None:
    """The specs asked for; None (and an error printed) for an unknown pipeline."""
    from mlops_lib.spec import load_specs

    specs = [s for s in load_specs(*settings.spec_dirs) if pipeline in (None, s.name)]
    if pipeline is not None and not specs:
        print(f"error: no pipeline spec named {pipeline!r} in {settings.pipelines_dir}",
              file=sys.stderr)
        return None
    return specs


def _status(settings: Settings, pipeline: str | None, *, as_json: bool) -> int:
    from mlops_lib.operations.health import services_health
    from mlops_lib.operations.status import PipelineStatus, pipeline_status
    from mlops_lib.stores.store import Store

    specs = _specs(settings, pipeline)
    if specs is None:
        return 1
    store = Store(settings.store_url)
    states: list[PipelineStatus] = []
    errors: dict[str, str] = {}
    for spec in specs:
        try:
            states.append(pipeline_status(store, spec))
        except Exception as exc:  # the store is down: the health lines below say so
            errors[spec.name] = f"{type(exc).__name__}: {exc}"[:300]
    health = services_health(settings, tuple(dict.fromkeys(s.source.bucket for s in specs)))
    if as_json:
        print(json.dumps({"pipelines": [asdict(s) for s in states], "errors": errors,
                          "services": [asdict(h) for h in health]}, indent=2))
        return 0
    for state in states:
        print("\n".join(state.lines()) + "\n")
    for name, error in errors.items():
        print(f"pipeline  {name}\nerror     {error}\n")
    print("services\n" + "\n".join("  " + h.line() for h in health))
    return 0


def _alerts(settings: Settings, args: argparse.Namespace) -> int:
    from mlops_lib.operations.alerts_view import alert_dict, alert_lines
    from mlops_lib.stores.store import Store

    if _specs(settings, args.pipeline) is None:
        return 1
    found = Store(settings.store_url).alerts(args.pipeline, open_only=args.open)
    print(json.dumps([alert_dict(a) for a in found], indent=2) if args.json
          else "\n".join(alert_lines(found, open_only=args.open)))
    return 0


def _reports(settings: Settings, args: argparse.Namespace) -> int:
    from mlops_lib.operations import report_list
    from mlops_lib.services import Services

    if _specs(settings, args.pipeline) is None:
        return 1
    svc = Services(settings)
    if args.run is None:
        found = report_list.listing(svc.store, settings, args.pipeline)
        print(json.dumps(asdict(found), indent=2) if args.json else "\n".join(found.lines()))
        return 0
    key, reports = report_list.run_reports(svc.store, settings, args.pipeline, args.run)
    if not reports:
        print(f"error: no reports of {args.pipeline} under {args.run!r} (a DAG run id or a "
              f"batch id; `mlops reports {args.pipeline}` lists them)", file=sys.stderr)
        return 1
    target = args.download or (tempfile.mkdtemp(prefix="ct-reports-") if args.open else None)
    fetched = [] if target is None else report_list.download(svc.s3, reports, Path(target))
    if args.json:
        print(json.dumps({"run": key, "reports": [asdict(r) for r in reports],
                          "downloaded": [str(p) for p in fetched]}, indent=2))
    else:
        print(f"reports of {args.pipeline} {key}\n" + "\n".join(r.line() for r in reports))
        for path in fetched:
            print(f"downloaded {path}")
    if args.open:
        _open_html(fetched)
    return 0


def _open_html(paths: list[Path]) -> None:
    import webbrowser

    page = next((p for p in paths if p.suffix == ".html"), None)
    if page is None:
        print("no HTML report to open", file=sys.stderr)
    elif not webbrowser.open(page.resolve().as_uri()):
        print(f"no browser here: open {page}")


def _quarantine(settings: Settings, args: argparse.Namespace) -> int:
    from mlops_lib.operations import quarantine as q
    from mlops_lib.services import Services

    specs = _specs(settings, args.pipeline)
    if specs is None:
        return 1
    svc = Services(settings)
    try:
        if args.quarantine_command == "list":
            found = q.quarantined(svc.store, args.pipeline)
            print(json.dumps([asdict(b) for b in found], indent=2) if args.json else
                  "\n".join(b.line() for b in found) or "no quarantined batch")
            return 0
        if args.quarantine_command == "show":
            shown = q.detail(svc.store, args.pipeline, args.batch)
            print(json.dumps(asdict(shown), indent=2) if args.json else "\n".join(shown.lines()))
            return 0
        actor = args.actor or os.environ.get("USER") or getpass.getuser()
        outcome = q.replay(svc, specs[0], args.batch, reason=args.reason, actor=actor,
                           source=args.source)
    except q.ReplayError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("\n".join(outcome.lines()))
    return 0 if outcome.accepted else 1


def _gc(settings: Settings, args: argparse.Namespace) -> int:
    from mlops_lib.operations import gc
    from mlops_lib.stores.store import Store

    try:
        found = gc.collect(settings.home, gc.StoreRunRecords(Store(settings.store_url)),
                           older_than_h=args.older_than, dry_run=args.dry_run)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(asdict(found) | {"freed_bytes": found.freed_bytes}, indent=2)
          if args.json else "\n".join(found.lines()))
    return 1 if found.failed else 0
