"""The services a fault case runs against (the session's moto S3 server and MLflow server, one
store and one DVC dataset repo per module) and the attempts it starts.

Each attempt is a process forked from a fork server that imported the steps once
(`tests.faults.runner`): the same code as a fresh Airflow task process, without paying
~20 s of imports per attempt, and a SIGKILL ends the attempt alone.
"""

from __future__ import annotations

import multiprocessing
import uuid
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from mlops_dev import datagen
from mlops_lib.services import Services
from mlops_lib.settings import Settings
from mlops_lib.spec import load_spec
from mlops_lib.stores import s3io
from tests.faults.case import Case, enter
from tests.faults.injector import Fault
from tests.support import EXAMPLE_SPEC

ATTEMPT_TIMEOUT_S = 180
ROWS = 600  # a tiny batch: the suite is about what survives a fault, not about the model

_FORKS = multiprocessing.get_context("forkserver")
_FORKS.set_forkserver_preload(["tests.faults.runner"])


@dataclass(frozen=True)
class Stack:
    env: dict[str, str]
    s3: Any
    landing_bucket: str
    root: Path

    def services(self) -> Services:
        return Services(Settings.from_env(self.env))

    def new_case(self, batches: int = 1) -> Case:
        name = f"f{uuid.uuid4().hex[:8]}"
        folder = self.root / name
        folder.mkdir()
        return Case(name=name, env=self.env, landing_bucket=self.landing_bucket,
                    folder=str(folder),
                    batch_ids=tuple(f"batch-{i}-{uuid.uuid4().hex[:6]}" for i in range(batches)))

    def land(self, case: Case, *, bad: bool = False) -> None:
        """Land the case's batches as a producer would (data files, then the marker); a bad
        batch breaks the contract (nulls in `income`, which is not nullable)."""
        base = load_spec(EXAMPLE_SPEC)  # the same data whatever the case's name
        for i, batch_id in enumerate(case.batch_ids):
            frame = datagen.generate_batch(base, ROWS, seed=11 + i)
            if bad:
                frame.loc[: ROWS // 2, "income"] = None
            s3io.upload_batch(self.s3, case.landing_bucket, f"landing/{case.name}/", batch_id,
                              {"part-0000.parquet": datagen.to_file_bytes(frame, "parquet")})

    def start(self, case: Case, steps: tuple[str, ...], fault: Fault | None,
              label: str) -> BaseProcess:
        proc = _FORKS.Process(target=enter, args=(case, steps, fault, label), name=label)
        proc.start()
        return proc

    def finish(self, case: Case, proc: BaseProcess) -> int:
        """The attempt's exit code: 0 done, 1 raised, -9 killed."""
        proc.join(ATTEMPT_TIMEOUT_S)
        if proc.is_alive():
            proc.kill()
            proc.join()
            raise AssertionError(f"{proc.name} hung:\n{self.log(case, proc.name)}")
        assert proc.exitcode is not None
        return proc.exitcode

    def attempt(self, case: Case, steps: tuple[str, ...], fault: Fault | None = None,
                label: str = "attempt") -> int:
        return self.finish(case, self.start(case, steps, fault, label))

    def succeed(self, case: Case, steps: tuple[str, ...], label: str) -> None:
        """Run `steps` without a fault; they must all succeed."""
        code = self.attempt(case, steps, None, label)
        assert code == 0, f"{label} exited {code}:\n{self.log(case, label)}"

    @staticmethod
    def log(case: Case, label: str) -> str:
        path = case.path / f"{label}.log"
        return path.read_text(errors="replace")[-6000:] if path.exists() else "(no log)"
