"""`mlops`: operate the continuous-training service from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    """The service's commands alone (the `mlops` entry point adds the local stack's)."""
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    add_commands(parser.add_subparsers(dest="command", required=True))
    return run(parser.parse_args(argv))


def add_commands(sub: Any) -> None:
    """The operator's commands, on an `argparse` sub-command group."""
    from mlops_lib import cli_ops
    from mlops_lib.metrics import cli as metrics_cli

    cli_ops.add_commands(sub)
    metrics_cli.add_commands(sub)
    champ = sub.add_parser("champion", help="the current champion of a pipeline")
    champ.add_argument("pipeline", help="the pipeline's name (its spec's `name`)")

    hist = sub.add_parser("history", help="every decision and champion move of a pipeline")
    hist.add_argument("pipeline", help="the pipeline's name")
    hist.add_argument("--json", action="store_true", help="print JSON instead of lines")

    prom = sub.add_parser("promote", help="make a model version the champion (recorded)")
    prom.add_argument("pipeline", help="the pipeline's name")
    prom.add_argument("version", help="the registered model version to promote")
    prom.add_argument("--reason", required=True, help="why; recorded with your user")

    back = sub.add_parser("rollback", help="move the champion back one step, or --to a version")
    back.add_argument("pipeline", help="the pipeline's name")
    back.add_argument("--to", default=None, help="the version to go back to (default: the "
                                                 "previous champion)")
    back.add_argument("--reason", required=True, help="why; recorded with your user")

    contract = sub.add_parser("contract", help="data contract tools")
    contract_sub = contract.add_subparsers(dest="contract_command", required=True)
    infer = contract_sub.add_parser(
        "infer", help="print a pipeline spec (features, contract) inferred from a batch file")
    infer.add_argument("file", help="a reference batch: .parquet or .csv")
    infer.add_argument("--name", required=True, help="pipeline name")
    infer.add_argument("--target", required=True, help="the target column")
    infer.add_argument("--margin", type=float, default=None,
                       help="widen the 0.1-99.9 %% quantile range of a number by this share of "
                            "its span, on each side (default 1)")
    infer.add_argument("--allow-negative", action="store_true",
                       help="let ranges reach below 0 where the batch has no negative value")

    spec = sub.add_parser("spec", help="pipeline spec tools")
    spec_sub = spec.add_subparsers(dest="spec_command", required=True)
    schema = spec_sub.add_parser("schema", help="print the JSON Schema of a pipeline spec "
                                                "(for editors: completion and checks of YAML)")
    schema.add_argument("--out", default=None, help="write it to this file instead")
    check = spec_sub.add_parser("check", help="load spec files and report every error")
    check.add_argument("paths", nargs="+", help="spec files (YAML)")

    store = sub.add_parser("store", help="the project store (batches, runs, decisions)")
    store_sub = store.add_subparsers(dest="store_command", required=True)
    upgrade = store_sub.add_parser("upgrade", help="create or migrate the store's tables to "
                                                   "the newest schema (Alembic); idempotent")
    upgrade.add_argument("--url", default=None,
                         help="SQLAlchemy URL (default: CT_STORE_URL / the local stack's)")
    store_sub.add_parser("current", help="print the store's schema revision")

    rec = sub.add_parser("reconcile", help="repair MLflow aliases that disagree with the store")
    rec.add_argument("pipeline", nargs="*", help="default: every pipeline in pipelines/")

    score = sub.add_parser("score", help="score a file with the champion (or --version) into "
                                         "parquet; ad hoc, not logged")
    score.add_argument("pipeline", help="the pipeline's name")
    score.add_argument("source", help="a local .parquet/.csv file or an s3://bucket/key object")
    score.add_argument("--version", default=None, help="a registered version (default: the "
                                                       "champion)")
    score.add_argument("--out", default=None, help="the parquet file to write (default: "
                                                   "<source name>.predictions.parquet here)")

    preds = sub.add_parser("predictions", help="the prediction log of a pipeline, newest first")
    preds.add_argument("pipeline", help="the pipeline's name")
    preds.add_argument("--batch", default=None, help="only this scoring batch")
    preds.add_argument("--json", action="store_true", help="print JSON instead of lines")

    perf = sub.add_parser("performance", help="realized vs estimated performance per model "
                                              "version and window, against its promotion")
    perf.add_argument("pipeline", help="the pipeline's name")
    perf.add_argument("--version", default=None, help="only this registered version")
    perf.add_argument("--kind", choices=("batch", "rows", "all"), default="all",
                      help="batch windows (one per scoring batch), rolling rows windows, or "
                           "all (default)")
    perf.add_argument("--json", action="store_true", help="print JSON instead of lines")

    lin = sub.add_parser("lineage", help="what made a model version: data, code, env, run")
    lin.add_argument("pipeline", help="the pipeline's name")
    lin.add_argument("version", help="the registered model version")
    lin.add_argument("--json", action="store_true", help="print the full record as JSON")

    rep = sub.add_parser("reproduce", help="re-fetch a version's data from DVC, retrain on CPU "
                                           "and compare with the registered model")
    rep.add_argument("pipeline", help="the pipeline's name")
    rep.add_argument("version", help="the registered model version")
    rep.add_argument("--workdir", default=None, help="an empty folder (default: a new temp one)")
    rep.add_argument("--json", action="store_true", help="print the result as JSON")


def run(args: argparse.Namespace) -> int:
    """Carry out a command that `add_commands` declared."""
    from mlops_lib import cli_ops
    from mlops_lib.metrics import cli as metrics_cli

    if args.command in cli_ops.COMMANDS:
        return cli_ops.run(args)
    if args.command in metrics_cli.COMMANDS:
        return metrics_cli.run(args)
    if args.command == "contract":
        from pathlib import Path

        from mlops_lib.spec.infer import infer_file

        margin = {} if args.margin is None else {"margin": args.margin}
        print(infer_file(Path(args.file), name=args.name, target=args.target,
                         allow_negative=args.allow_negative, **margin), end="")
        return 0
    if args.command == "spec":
        return _spec(args)
    if args.command == "store":
        return _store(args)
    if args.command == "champion":
        return _champion(args.pipeline)
    if args.command in ("history", "promote", "rollback", "reconcile"):
        return _operate(args)
    if args.command in ("lineage", "reproduce"):
        return _lineage(args)
    if args.command in ("score", "predictions"):
        return _scoring(args)
    if args.command == "performance":
        return _performance(args)
    return 2


def _spec(args: argparse.Namespace) -> int:
    from mlops_lib.spec import SpecError, json_schema, load_spec

    if args.spec_command == "schema":
        text = json.dumps(json_schema(), indent=2) + "\n"
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                fh.write(text)
        else:
            print(text, end="")
        return 0
    failed = 0
    for path in args.paths:
        try:
            spec = load_spec(path)
        except SpecError as exc:
            failed += 1
            print(f"error: {exc}", file=sys.stderr)
            continue
        print(f"{path}: ok ({spec.name}, {len(spec.features)} features)")
    return 1 if failed else 0


def _store(args: argparse.Namespace) -> int:
    from mlops_lib.settings import Settings
    from mlops_lib.stores import migrations

    url = getattr(args, "url", None) or Settings.from_env().store_url
    if args.store_command == "upgrade":
        before, after = migrations.upgrade(url)
        print(f"store {migrations.safe_url(url)}: {before or 'empty'} -> {after}")
    else:
        print(migrations.current(url) or "empty")
    return 0


def _champion(pipeline: str) -> int:
    from mlops_lib.settings import Settings
    from mlops_lib.stores.store import Store

    champion = Store(Settings.from_env().store_url).get_champion(pipeline)
    if champion is None:
        print(f"{pipeline}: no champion yet")
        return 1
    print(json.dumps(champion.__dict__, indent=2))
    return 0


def _operate(args: argparse.Namespace) -> int:
    from mlops_lib.operations import champion
    from mlops_lib.services import Services
    from mlops_lib.spec import load_specs

    svc = Services()
    try:
        if args.command == "history":
            events = _with_approvals(svc, args.pipeline, champion.history(svc, args.pipeline))
            if args.json:
                print(json.dumps(events, indent=2))
            for e in [] if args.json else events:
                print(_history_line(e))
        elif args.command == "promote":
            print(json.dumps(champion.promote_version(svc, args.pipeline, args.version,
                                                      reason=args.reason)))
        elif args.command == "rollback":
            print(json.dumps(champion.rollback(svc, args.pipeline, to=args.to,
                                               reason=args.reason)))
        else:
            names = args.pipeline or [s.name for s in load_specs(*svc.settings.spec_dirs)]
            for name in names:
                r = champion.reconcile(svc, name)
                state = f"repaired (was {r.alias_before})" if r.changed else "in sync"
                print(f"{name}: champion {r.store_version or '-'}; alias {state}")
    except champion.ChampionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _lineage(args: argparse.Namespace) -> int:
    import tempfile

    from mlops_lib.cli_ops import progress_printer
    from mlops_lib.operations import lineage, reproduce
    from mlops_lib.services import Services

    svc = Services()
    try:
        if args.command == "lineage":
            found = lineage.lineage(svc, args.pipeline, args.version)
            print(json.dumps(found.to_dict(), indent=2) if args.json else found.describe())
            return 0
        workdir = args.workdir or tempfile.mkdtemp(prefix="ct-reproduce-")
        result = reproduce.reproduce(svc, args.pipeline, args.version, workdir,
                                     progress=progress_printer())
    except lineage.LineageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.describe())
    return 0 if result.identical else 1


def _scoring(args: argparse.Namespace) -> int:
    from dataclasses import asdict
    from pathlib import Path

    from mlops_lib.services import Services

    svc = Services()
    if args.command == "predictions":
        records = svc.store.predictions(args.pipeline, batch_id=args.batch)
        if args.json:
            print(json.dumps([asdict(r) for r in records], indent=2))
        for r in [] if args.json else records:
            print(f"{r.scored_at}  {r.batch_id}  v{r.model_version} {r.role:<8} "
                  f"{r.rows_scored} rows  {r.predictions_uri}")
        return 0
    from mlops_lib.cli_ops import progress_printer
    from mlops_lib.spec import load_specs
    from mlops_lib.steps import scoring

    spec = next((s for s in load_specs(*svc.settings.spec_dirs)
                 if s.name == args.pipeline), None)
    if spec is None:
        print(f"error: no pipeline {args.pipeline!r} in {svc.settings.pipelines_dir}",
              file=sys.stderr)
        return 1
    out = Path(args.out or Path(args.source.rstrip("/").rsplit("/", 1)[-1]).with_suffix(
        ".predictions.parquet").name)
    try:
        version, rows = scoring.score_file(svc, spec, args.source, out, version=args.version,
                                           progress=progress_printer())
    except (scoring.NoChampion, ValueError) as exc:  # ScoringInputError is a ValueError
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{rows} rows scored by {spec.registered_model_name} v{version} -> {out}")
    return 0


def _performance(args: argparse.Namespace) -> int:
    from mlops_lib.operations import performance_view as pv
    from mlops_lib.services import Services

    store = Services().store
    # every window: the view filters, and tells "none yet" from "none that match"
    windows = store.performance(args.pipeline)
    metric = windows[0].metric if windows else None  # one measurement: one metric
    champion = store.get_champion(args.pipeline)
    view = pv.build_view(args.pipeline, windows,
                         pv.promotion_values(store.decisions(args.pipeline), metric),
                         None if champion is None else champion.model_version,
                         kind=args.kind, version=args.version)
    print(json.dumps(pv.to_dict(view), indent=2) if args.json else "\n".join(pv.lines(view)))
    return 0


def _with_approvals(svc: Any, pipeline: str,
                    events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Decision events of manual-promotion runs, with the approval their row records."""
    approvals = {d.dag_run_id: d.details["approval"] for d in svc.store.decisions(pipeline)
                 if d.details.get("approval")}
    return [{**e, "approval": approvals[e["dag_run_id"]]}
            if e["kind"] == "decision" and e["dag_run_id"] in approvals else e for e in events]


def _approval_text(approval: Any) -> str:
    if not isinstance(approval, dict):
        return ""
    who = f" by {approval['user']}" if approval.get("user") else ""
    when = f" at {approval['responded_at']}" if approval.get("responded_at") else ""
    return f"approval: {approval.get('status')}{who}{when}  "


def _history_line(e: dict[str, object]) -> str:
    if e["kind"] == "decision":
        base = "no champion" if e["baseline"] is None else (
            f"v{e['baseline']} {e['baseline_value']:.4f}")
        return (f"{e['at']}  decision  {str(e['decision']).upper():10} v{e['candidate']} "
                f"{e['metric']}={e['candidate_value']:.4f} vs {base}  [{e['dag_run_id']}] "
                f"{_approval_text(e.get('approval'))}{e['reason']}")
    move = f"v{e['previous']} → v{e['version']}" if e["previous"] else f"→ v{e['version']}"
    return (f"{e['at']}  {e['action']:<16} {move} (epoch {e['epoch']}) by {e['actor']}: "
            f"{e['reason']}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
