"""Wipe the local stack's state: `mlops stack reset` and `make reset`.

The stack keeps everything it owns under one home folder (`.stack`, or CT_HOME): S3 data,
MLflow's database and artifacts, Airflow's metadata DB, the project store, passwords and logs.
A reset stops the stack and deletes that folder, so the next `make up` or `make demo` starts
from nothing. It refuses a folder that does not look like a stack home, so a mistyped CT_HOME
cannot delete anything else."""

from __future__ import annotations

import shutil

from mlops_dev.stack.config import StackConfig, StackError
from mlops_dev.stack.lifecycle import down
from mlops_dev.stack.processes import Echo

# What `up` creates in its home; a folder holding none of these is not one of ours.
_MARKERS = ("run", "logs", "s3", "airflow", "ct_store.db")


def looks_like_stack_home(cfg: StackConfig) -> bool:
    return cfg.home.is_dir() and any((cfg.home / m).exists() for m in _MARKERS)


def reset(cfg: StackConfig, *, echo: Echo = print) -> bool:
    """Stop the stack and delete its home; False when there was nothing to delete."""
    if not cfg.home.exists():
        echo(f"nothing to reset: {cfg.home} does not exist")
        return False
    if not looks_like_stack_home(cfg):
        raise StackError(f"{cfg.home} does not look like a stack home (none of "
                         f"{', '.join(_MARKERS)} in it); not deleting it")
    down(cfg, echo=echo)
    shutil.rmtree(cfg.home)
    echo(f"deleted {cfg.home}: the next `make up` or `make demo` starts from an empty stack")
    return True
