"""The fault injector: at a named point, raise or kill the process.

A point is a function or method the pipeline calls (`module:attr` or `module:Class.attr`) and
whether the fault fires just before the call or just after it returns. Installed in the
process that runs the faulted attempt, the point's first matching call fires the fault:
- `raise`: a `ConnectionError` (an infrastructure failure: the ingest step retries those
  instead of quarantining the batch), so `except`/`finally` blocks run as they would;
- `kill`: SIGKILL to the process itself, so nothing else runs, no `finally`, no cleanup.

Before firing, the injector writes the point's name to `marker`: a case whose point was never
reached fails instead of passing on a retry that had nothing to recover from.
"""

from __future__ import annotations

import functools
import importlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Action = Literal["raise", "kill"]
ACTIONS: tuple[Action, ...] = ("raise", "kill")


class InjectedFault(ConnectionError):
    """The fault raised at a point (a ConnectionError: the infrastructure failing)."""


@dataclass(frozen=True)
class Point:
    """A step boundary: `target` is called by step `step`; the fault fires `when` it does."""

    name: str
    step: str
    target: str  # "package.module:attr" or "package.module:Class.attr"
    when: Literal["before", "after"] = "after"
    first_arg: str | None = None  # only calls whose first argument (after self) is this

    def resolve(self) -> tuple[Any, str]:
        """The object that holds the target attribute, and the attribute's name."""
        module_name, _, path = self.target.partition(":")
        owner: Any = importlib.import_module(module_name)
        *parents, attr = path.split(".")
        for part in parents:
            owner = getattr(owner, part)
        return owner, attr


@dataclass(frozen=True)
class Fault:
    point: Point
    action: Action

    @property
    def id(self) -> str:
        return f"{self.point.name}-{self.action}"


def install(fault: Fault, marker: Path) -> None:
    """Wrap the point's target so that its first matching call fires the fault."""
    owner, attr = fault.point.resolve()
    real = getattr(owner, attr)
    is_method = isinstance(owner, type)
    fired: list[bool] = []

    @functools.wraps(real)
    def faulty(*args: Any, **kwargs: Any) -> Any:
        call_args = args[1:] if is_method else args
        wanted = fault.point.first_arg is None or (
            bool(call_args) and call_args[0] == fault.point.first_arg)
        if fired or not wanted:
            return real(*args, **kwargs)
        fired.append(True)
        if fault.point.when == "after":
            result = real(*args, **kwargs)
            _fire(fault, marker)
            return result  # only reached if the fault did not fire
        _fire(fault, marker)
        return real(*args, **kwargs)

    setattr(owner, attr, faulty)


def _fire(fault: Fault, marker: Path) -> None:
    marker.write_text(fault.point.name)
    if fault.action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    raise InjectedFault(f"injected fault at {fault.point.name} ({fault.point.when} "
                        f"{fault.point.target})")
