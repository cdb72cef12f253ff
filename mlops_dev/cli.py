"""`mlops`: the service's commands (`mlops_lib.cli`) plus the local stack's: `stack`, `demo`,
`drop`. Without CT_* / MLFLOW_* settings in the environment, commands talk to the stack that
`make up` runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mlops_lib import cli as service_cli


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "stack":
        return _reset(args.yes) if args.action == "reset" else _stack(args.action)
    _default_to_local_stack()
    if args.command == "demo":
        from mlops_dev.demo import run_demo

        return run_demo()
    if args.command == "demo-loop":
        from mlops_dev.loop import run_loop_demo

        return run_loop_demo()
    if args.command in ("drop", "trigger"):
        from mlops_dev import watch

        return watch.drop(args) if args.command == "drop" else watch.trigger(args)
    return service_cli.run(args)


def build_parser() -> argparse.ArgumentParser:
    """Every `mlops` command and option (the docs' command lines are checked against it)."""
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local stack (S3, MLflow, Airflow) without Docker")
    stack.add_argument("action", choices=["up", "down", "status", "env", "reset"],
                       help="up: start it; down: stop it; status: health and memory; env: "
                            "print the environment its processes get (for `airflow` commands); "
                            "reset: stop it and delete its state (.stack), after a confirmation")
    stack.add_argument("--yes", action="store_true",
                       help="reset without asking (as `make reset FORCE=1`)")

    sub.add_parser("demo", help="drop three batches on the local stack: a first model, a "
                                "drift retrain, and a batch that asks for no retrain")

    sub.add_parser("demo-loop", help="the feedback loop on the local stack (pipeline "
                                     "credit_loop): a concept drift seen by late labels, a "
                                     "retrain on performance, a challenger judged on live rows, "
                                     "a rollback")

    drop = sub.add_parser("drop", help="generate a synthetic batch and drop it into S3")
    drop.add_argument("pipeline", help="the pipeline's name")
    drop.add_argument("--rows", type=int, default=5000, help="rows in the batch")
    drop.add_argument("--drift", type=float, default=0.0,
                      help="covariate shift of the features, 0 (none) to 1")
    drop.add_argument("--seed", type=int, default=None, help="random seed (default: random)")
    drop.add_argument("--batch-id", default=None, help="the batch folder's name "
                                                        "(default: batch-<UTC time>)")
    drop.add_argument("--wait", action="store_true",
                      help="wait for the batch's verdict (and its training run's decision, if "
                           "one takes it) and print it")

    trig = sub.add_parser("trigger", help="start a manual training run, with the reason recorded")
    trig.add_argument("pipeline", help="the pipeline's name")
    trig.add_argument("--reason", required=True, help="why; the run's note and its provenance")
    trig.add_argument("--batches", nargs="+", default=None,
                      help="accepted batch ids to train on (default: the new ones)")
    trig.add_argument("--force", action="store_true",
                      help="train even with nothing new (on the newest batches)")
    trig.add_argument("--wait", action="store_true", help="wait for the run and print its "
                                                          "decision")
    service_cli.add_commands(sub)
    return parser

def _default_to_local_stack() -> None:
    """Without CT_*/MLFLOW_* settings in the environment, talk to the stack `make up` runs."""
    from mlops_dev.devstack import StackConfig

    for key, value in StackConfig.from_env().service_env().items():
        os.environ.setdefault(key, value)


def _reset(yes: bool) -> int:
    from mlops_dev.stack.config import StackConfig
    from mlops_dev.stack.reset import reset

    cfg = StackConfig.from_env()
    if not yes:
        if not sys.stdin.isatty():
            print(f"not deleting {cfg.home} without a confirmation: run `make reset FORCE=1` "
                  "(or `mlops stack reset --yes`)", file=sys.stderr)
            return 1
        answer = input(f"Stop the local stack and delete {cfg.home} (S3 data, models, runs, "
                       "the store)? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept it")
            return 1
    reset(cfg)
    return 0


def _stack(action: str) -> int:
    from mlops_dev import devstack

    cfg = devstack.StackConfig.from_env()
    if action == "up":
        devstack.up(cfg)
        # Where the passwords are, never the passwords: this output may end up in a log.
        print(f"Airflow UI:  {cfg.airflow_url}  (user {devstack.AIRFLOW_USER}, password in "
              f"{devstack.passwords_file(cfg)})")
        print(f"MLflow UI:   {cfg.mlflow_url}  (user {devstack.MLFLOW_ADMIN}, password in "
              f"{cfg.run_dir / 'mlflow_admin_password'}; tasks log in as "
              f"{devstack.SERVICE_USER})")
        print(f"S3 endpoint: {cfg.s3_url}  (key/secret {devstack.S3_KEY}); data in "
              f"{cfg.home / 's3'}")
        print(f"Metrics:     {cfg.exporter_url}/metrics  (Prometheus; Airflow pushes its own "
              "there over OTLP)")
    elif action == "down":
        devstack.down(cfg)
    elif action == "status":
        state = devstack.status(cfg)
        for name, s in state.items():
            print(f"{name:24} {'up' if s['running'] else 'down':5} "
                  f"{'healthy' if s['healthy'] else '-':8} {s['pss_mib']:>8} MiB PSS")
        total = sum(float(str(s["pss_mib"])) for s in state.values())
        print(f"{'total':24} {'':14} {total:>8.1f} MiB PSS")
    elif action == "env":
        for k, v in cfg.shell_env().items():
            print(f"export {k}={json.dumps(v) if ' ' in v or '{' in v else v}")
        # `airflow` and `mlops` of the project's environment, first on PATH once eval'ed
        print(f'export PATH={json.dumps(str(Path(sys.executable).parent))}:"$PATH"')
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
