"""Stacks shared across e2e modules.

Starting the stack (S3, MLflow, four Airflow processes, DB migrations, the first DAG parse) is
the dearest step of an e2e module. Modules whose pipelines are their own (own names, landing
prefixes, models) and that assert nothing about other pipelines share one stack per flavour:
each declares `SHARED_STACK = "<flavour>"` and takes its `stack` from `shared_stacks`. Every
flavour's stack is started once with the pipelines of all the modules that share it; only one
stack runs at a time, and modules with a stack of their own (e.g. the CeleryExecutor ones) run
after the shared ones, with no shared stack left running.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.live import LiveStack, live_stack
from tests.e2e.pipelines import (
    write_cycle_pipelines,
    write_events_pipeline,
    write_loop_pipeline,
    write_manual_pipeline,
    write_quiet_pipeline,
    write_scoring_pipeline,
    write_strict_pipelines,
    write_window_pipeline,
)


@dataclass(frozen=True)
class Flavour:
    env: dict[str, str]
    pipelines: tuple[Callable[[Path], Path], ...]


FLAVOURS = {
    # The stack as `make up` runs it: s3rver keeps objects on disk.
    "s3rver": Flavour({}, (write_cycle_pipelines, write_manual_pipeline,
                           write_scoring_pipeline, write_window_pipeline,
                           write_quiet_pipeline)),
    # Moto's server: S3 and SQS with bucket notifications, which the events mode needs.
    "moto": Flavour({"CT_S3_SERVER": "moto"}, (write_strict_pipelines, write_events_pipeline,
                                                write_loop_pipeline)),
}


@dataclass
class SharedStacks:
    """At most one running stack; asking for another flavour stops the one that runs."""

    tmp: pytest.TempPathFactory
    running: str | None = None
    stack: LiveStack | None = None
    _exit: ExitStack = field(default_factory=ExitStack)

    def get(self, flavour: str) -> LiveStack:
        if self.running != flavour:
            self.release()
            home = self.tmp.mktemp(f"ct_shared_{flavour}")
            for write in FLAVOURS[flavour].pipelines:
                write(home / "pipelines")
            self.stack = self._exit.enter_context(
                live_stack(home, home / "pipelines", **FLAVOURS[flavour].env))
            self.running = flavour
        assert self.stack is not None
        return self.stack

    def release(self) -> None:
        self.running, self.stack = None, None
        self._exit.close()


@pytest.fixture(scope="session")
def shared_stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SharedStacks]:
    stacks = SharedStacks(tmp_path_factory)
    try:
        yield stacks
    finally:
        stacks.release()


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, shared_stacks: SharedStacks) -> LiveStack:
    """The module's stack: the shared one of its SHARED_STACK flavour. A module that starts a
    stack of its own overrides this fixture."""
    flavour = getattr(request.module, "SHARED_STACK", None)
    assert flavour in FLAVOURS, f"{request.module.__name__}: SHARED_STACK must be one of " \
        f"{sorted(FLAVOURS)}, or the module defines its own `stack` fixture"
    return shared_stacks.get(flavour)


@pytest.fixture(autouse=True, scope="module")
def _one_stack_at_a_time(request: pytest.FixtureRequest, shared_stacks: SharedStacks) -> None:
    """Before a module that starts its own stack, stop the shared one (two stacks at once
    would double the memory and halve the CPU each gets)."""
    if getattr(request.module, "SHARED_STACK", None) is None:
        shared_stacks.release()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules sharing a flavour run next to each other (so each shared stack starts once), the
    shared ones before those with a stack of their own; the order within a module is kept.
    Under `make test` (pytest-xdist) one worker runs them all in this order (tests/lanes.py)."""
    def rank(item: pytest.Item) -> tuple[int, str]:
        flavour = getattr(getattr(item, "module", None), "SHARED_STACK", None)
        return (0, flavour) if flavour else (1, "")

    slots = [i for i, item in enumerate(items) if item.get_closest_marker("e2e")]
    ordered = sorted((items[i] for i in slots), key=rank)
    for slot, item in zip(slots, ordered, strict=True):
        items[slot] = item


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed e2e test's report carries the end of the stack's scheduler and triggerer logs:
    on CI those logs go with the machine, and a stuck run is read there first."""
    report = yield
    stack = getattr(item, "funcargs", {}).get("stack")
    if report.failed and call.when == "call" and isinstance(stack, LiveStack):
        for name in ("airflow-scheduler", "airflow-triggerer"):
            path = stack.cfg.log_dir / f"{name}.log"
            if path.exists():
                lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                report.sections.append((f"{name}.log (last {len(lines)} lines)",
                                        "\n".join(lines)))
    return report


LOG_TAIL_LINES = 80
