"""How `make test` spreads the suite over two pytest-xdist workers.

The e2e tests are one unit of work: they share stacks, start at most one at a time and rely on
their order (tests/e2e/conftest.py), so one worker runs them all, in collection order. Each
other module is a unit of its own, so that its module-scoped servers start once: the other
worker takes them one after another while the e2e stacks, which spend much of their time
waiting on Airflow's scheduling loops, leave it a core.

This is pytest-xdist's `loadscope` with our own scopes. Its `loadgroup` would do the same with
`xdist_group` marks, but with pytest 9.2 it silently ignores them (it renames `item._nodeid`,
which pytest no longer reads)."""

from __future__ import annotations

from xdist.scheduler import LoadScopeScheduling

E2E_DIR = "tests/e2e/"


class LaneScheduling(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        return "e2e" if nodeid.startswith(E2E_DIR) else nodeid.split("::", 1)[0]
