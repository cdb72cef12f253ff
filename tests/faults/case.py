"""What a fault case is, shared by the test process and the attempts it starts: the case's
pipeline (its own name, landing prefix, runs and folder), the steps of the two DAGs in the
order `plugins/ct_airflow/tasks.py` runs them, and the entry point of an attempt.

Light on purpose: the test process imports this; only the attempts import the steps
(`tests.faults.runner`, preloaded once by the fork server).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops_lib.spec import PipelineSpec, load_spec
from tests.faults.injector import Fault
from tests.support import EXAMPLE_SPEC

# The ingest DAG's mapped group per batch, then the training DAG (reports run beside evaluate
# in Airflow; one after the other here).
INGEST_STEPS = ("register", "validate")
TRAINING_STEPS = ("reconcile", "plan", "version", "train", "evaluate", "reports", "decide")
STEPS = INGEST_STEPS + TRAINING_STEPS


@dataclass(frozen=True)
class Case:
    """One pipeline of its own on the shared stack: nothing it writes is another case's."""

    name: str
    env: dict[str, str]
    landing_bucket: str
    folder: str
    batch_ids: tuple[str, ...]
    ingest_run: str = "ingest__1"
    train_run: str = "manual__1"
    # The project's commit, fixed for the case: it is part of the idempotency key, and other
    # commits may land while the suite runs.
    code_sha: str = "fault-suite"
    # A killed claimant's claim is taken over after this long (600 s in service, also kept
    # for raised faults: an attempt that raises must release its claim, never leave it).
    claim_stale_seconds: float = 600.0
    rendezvous: tuple[str, int] | None = field(default=None)  # (target, parties): meet there

    @property
    def path(self) -> Path:
        return Path(self.folder)

    def spec(self) -> PipelineSpec:
        base = load_spec(EXAMPLE_SPEC)
        return replace(base, name=self.name,
                       source=replace(base.source, bucket=self.landing_bucket,
                                      prefix=f"landing/{self.name}/"),
                       training=replace(base.training, device="cpu", num_boost_round=10))

    def with_run(self, train_run: str) -> Case:
        return replace(self, train_run=train_run)

    def state_file(self) -> Path:
        return self.path / f"state-{self.train_run}.json"

    def state(self) -> dict[str, Any]:
        """What each step returned (its XCom), by step name."""
        path = self.state_file()
        return json.loads(path.read_text()) if path.exists() else {}

    def marker(self) -> Path:
        return self.path / "fault-fired"


def enter(case: Case, steps: tuple[str, ...], fault: Fault | None, label: str) -> None:
    """The attempt's process: run `steps` of the case, the fault installed before its step."""
    from tests.faults import runner  # the fork server preloaded it: no import cost here

    runner.run_attempt(case, steps, fault, label)
