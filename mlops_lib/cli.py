"""`mlops`: operate the continuous-training service from a shell."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    stack = sub.add_parser("stack", help="the local stack (S3, MLflow, Airflow) without Docker")
    stack.add_argument("action", choices=["up", "down", "status", "env"])

    sub.add_parser("demo", help="run two CT cycles on the local stack and print the outcome")

    drop = sub.add_parser("drop", help="generate a synthetic batch and drop it into S3")
    drop.add_argument("pipeline")
    drop.add_argument("--rows", type=int, default=5000)
    drop.add_argument("--drift", type=float, default=0.0)
    drop.add_argument("--seed", type=int, default=None)
    drop.add_argument("--batch-id", default=None)

    champ = sub.add_parser("champion", help="the current champion of a pipeline")
    champ.add_argument("pipeline")

    args = parser.parse_args(argv)
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
    return 2


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


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
