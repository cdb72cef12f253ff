"""`mlops`: operate the continuous-training service from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local stack (S3, MLflow, Airflow) without Docker")
    stack.add_argument("action", choices=["up", "down", "status", "env"])

    sub.add_parser("demo", help="drop three batches on the local stack: a first model, a "
                                "drift retrain, and a batch that asks for no retrain")

    drop = sub.add_parser("drop", help="generate a synthetic batch and drop it into S3")
    drop.add_argument("pipeline")
    drop.add_argument("--rows", type=int, default=5000)
    drop.add_argument("--drift", type=float, default=0.0)
    drop.add_argument("--seed", type=int, default=None)
    drop.add_argument("--batch-id", default=None)

    champ = sub.add_parser("champion", help="the current champion of a pipeline")
    champ.add_argument("pipeline")

    hist = sub.add_parser("history", help="every decision and champion move of a pipeline")
    hist.add_argument("pipeline")
    hist.add_argument("--json", action="store_true")

    prom = sub.add_parser("promote", help="make a model version the champion (recorded)")
    prom.add_argument("pipeline")
    prom.add_argument("version")
    prom.add_argument("--reason", required=True)

    back = sub.add_parser("rollback", help="move the champion back one step, or --to a version")
    back.add_argument("pipeline")
    back.add_argument("--to", default=None)
    back.add_argument("--reason", required=True)

    contract = sub.add_parser("contract", help="data contract tools")
    contract_sub = contract.add_subparsers(dest="contract_command", required=True)
    infer = contract_sub.add_parser(
        "infer", help="print a pipeline spec (features, contract) inferred from a batch file")
    infer.add_argument("file", help="a reference batch: .parquet or .csv")
    infer.add_argument("--name", required=True, help="pipeline name")
    infer.add_argument("--target", required=True, help="the target column")
    infer.add_argument("--margin", type=float, default=0.1,
                       help="widen observed ranges by this share of their span")

    rec = sub.add_parser("reconcile", help="repair MLflow aliases that disagree with the store")
    rec.add_argument("pipeline", nargs="*", help="default: every pipeline in pipelines/")

    lin = sub.add_parser("lineage", help="what made a model version: data, code, env, run")
    lin.add_argument("pipeline")
    lin.add_argument("version")
    lin.add_argument("--json", action="store_true")

    rep = sub.add_parser("reproduce", help="re-fetch a version's data from DVC, retrain on CPU "
                                           "and compare with the registered model")
    rep.add_argument("pipeline")
    rep.add_argument("version")
    rep.add_argument("--workdir", default=None, help="an empty folder (default: a new temp one)")
    rep.add_argument("--json", action="store_true")

    args = parser.parse_args(argv)
    if args.command == "contract":
        from pathlib import Path

        from mlops_lib.contract_infer import infer_file

        print(infer_file(Path(args.file), name=args.name, target=args.target,
                         margin=args.margin), end="")
        return 0
    if args.command != "stack":
        _default_to_local_stack()
    if args.command == "stack":
        return _stack(args.action)
    if args.command == "demo":
        from mlops_lib.demo import run_demo

        return run_demo()
    if args.command == "drop":
        from mlops_lib.demo import drop_batch

        print(drop_batch(args.pipeline, rows=args.rows, drift=args.drift, seed=args.seed,
                         batch_id=args.batch_id).uri)
        return 0
    if args.command == "champion":
        return _champion(args.pipeline)
    if args.command in ("history", "promote", "rollback", "reconcile"):
        return _operate(args)
    if args.command in ("lineage", "reproduce"):
        return _lineage(args)
    return 2


def _default_to_local_stack() -> None:
    """Without CT_*/MLFLOW_* settings in the environment, talk to the stack `make up` runs."""
    from mlops_lib.devstack import StackConfig

    for key, value in StackConfig.from_env().service_env().items():
        os.environ.setdefault(key, value)


def _stack(action: str) -> int:
    from mlops_lib import devstack

    cfg = devstack.StackConfig.from_env()
    if action == "up":
        devstack.up(cfg)
        print(f"Airflow UI:  {cfg.airflow_url}  (user {devstack.AIRFLOW_USER}, password "
              f"{devstack.airflow_password(cfg)})")
        print(f"MLflow UI:   {cfg.mlflow_url}")
        print(f"S3 endpoint: {cfg.s3_url}  (key/secret {devstack.S3_KEY}); data in "
              f"{cfg.home / 's3'}")
    elif action == "down":
        devstack.down(cfg)
    elif action == "status":
        state = devstack.status(cfg)
        for name, s in state.items():
            print(f"{name:24} {'up' if s['running'] else 'down':5} "
                  f"{'healthy' if s['healthy'] else '-':8} {s['pss_mib']:>8} MiB PSS")
        total = sum(float(s["pss_mib"]) for s in state.values())  # type: ignore[arg-type]
        print(f"{'total':24} {'':14} {total:>8.1f} MiB PSS")
    elif action == "env":
        for k, v in cfg.airflow_env().items():
            print(f"export {k}={json.dumps(v) if ' ' in v or '{' in v else v}")
    return 0


def _champion(pipeline: str) -> int:
    from mlops_lib.settings import Settings
    from mlops_lib.store import Store

    champion = Store(Settings.from_env().store_url).get_champion(pipeline)
    if champion is None:
        print(f"{pipeline}: no champion yet")
        return 1
    print(json.dumps(champion.__dict__, indent=2))
    return 0


def _operate(args: argparse.Namespace) -> int:
    from mlops_lib import champion
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
            names = args.pipeline or [s.name for s in load_specs(svc.settings.pipelines_dir)]
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

    from mlops_lib import lineage
    from mlops_lib.services import Services

    svc = Services()
    try:
        if args.command == "lineage":
            found = lineage.lineage(svc, args.pipeline, args.version)
            print(json.dumps(found.to_dict(), indent=2) if args.json else found.describe())
            return 0
        workdir = args.workdir or tempfile.mkdtemp(prefix="ct-reproduce-")
        result = lineage.reproduce(svc, args.pipeline, args.version, workdir)
    except lineage.LineageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), indent=2) if args.json else result.describe())
    return 0 if result.identical else 1


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
            f"v{e['baseline']} {e['baseline_value']:.4f}")  # type: ignore[str-format]
        return (f"{e['at']}  decision  {str(e['decision']).upper():10} v{e['candidate']} "
                f"{e['metric']}={e['candidate_value']:.4f} vs {base}  [{e['dag_run_id']}] "
                f"{_approval_text(e.get('approval'))}{e['reason']}")
    return (f"{e['at']}  {e['action']:<16} v{e['previous'] or '-'} -> v{e['version']} "
            f"(epoch {e['epoch']}) by {e['actor']}: {e['reason']}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
