"""Decisions and the champion: one immutable decision per run, the champion moved by
compare-and-set on its epoch, every move audited in the same transaction.

Two kinds of move. A pipeline's decision moves the champion only if it is still the one the run
evaluated (`expected_epoch`), else the decision is `superseded`. An operator's promotion or
rollback moves whatever champion is current, so it takes the champion's write lock first
(`SELECT ... FOR UPDATE` on PostgreSQL, `BEGIN IMMEDIATE` on SQLite) and chooses its target from
what it read under that lock: a rollback's "the version before this one" is always about the
champion the move replaces. Each returns the audit row it wrote: callers report that, never
a read taken before the move.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from mlops_lib.stores.database import require_schema
from mlops_lib.stores.records import (
    ChampionRecord,
    DecisionRecord,
    decision_of_row,
    decision_row,
    utcnow,
)
from mlops_lib.stores.tables import Tables

# Two first promotions on PostgreSQL have no row to lock: one INSERT loses on the key, and its
# second attempt finds the row and waits for its lock. More attempts than that mean a bug.
_LOCKED_ATTEMPTS = 3


@dataclass(frozen=True)
class ChampionMove:
    """One move of the champion, as written to `champion_moves` in the move's transaction."""

    pipeline: str
    epoch: int  # the champion's epoch after this move
    model_version: str
    previous_version: str | None
    action: str
    actor: str
    reason: str
    dag_run_id: str | None
    data_rev: str | None
    created_at: str


class MoveRefused(ValueError):
    """The move asked for makes no sense for the champion as it is (nothing changed)."""


@dataclass(frozen=True)
class _Target:
    model_version: str
    data_rev: str | None


_Choose = Callable[[Connection, ChampionRecord | None], _Target | None]


class DecisionTables(Tables):
    """`decisions`, `champion` and `champion_moves`."""

    def record_decision(self, d: DecisionRecord) -> DecisionRecord:
        """Write the run's decision once; a re-run gets the decision already taken."""
        self._insert_once("decisions", decision_row(d))
        stored = self.get_decision(d.pipeline, d.dag_run_id)
        assert stored is not None
        return stored

    def get_decision(self, pipeline: str, dag_run_id: str) -> DecisionRecord | None:
        row = self._one("SELECT * FROM decisions WHERE pipeline = :p AND dag_run_id = :r",
                        p=pipeline, r=dag_run_id)
        return decision_of_row(row) if row else None

    def decisions(self, pipeline: str) -> list[DecisionRecord]:
        rows = self._all("SELECT * FROM decisions WHERE pipeline = :p ORDER BY created_at",
                         p=pipeline)
        return [decision_of_row(r) for r in rows]

    def get_champion(self, pipeline: str) -> ChampionRecord | None:
        row = self._one("SELECT * FROM champion WHERE pipeline = :p", p=pipeline)
        return ChampionRecord(**row) if row else None

    def move_champion(self, pipeline: str, model_version: str, *, expected_epoch: int,
                      dag_run_id: str | None, data_rev: str | None, action: str = "decision",
                      actor: str = "pipeline", reason: str = "") -> bool:
        """Compare-and-set the champion and audit the move; False when someone moved it first.

        `expected_epoch` 0 means "there is no champion yet".
        """
        try:
            with self._begin() as conn:
                return self._move(conn, pipeline, model_version, expected_epoch, dag_run_id,
                                  data_rev, action, actor, reason) is not None
        except IntegrityError:  # lost the race to create the first champion
            return False

    def record_decision_and_move(self, d: DecisionRecord, *, expected_epoch: int,
                                 actor: str = "pipeline") -> tuple[DecisionRecord, bool]:
        """Write the run's decision and, on promote, move the champion in the same transaction.

        A promote whose compare-and-set loses (the champion moved since the evaluation) is
        recorded as `superseded`. A run's decision is written once: a retry gets the first one.
        Returns the stored decision and whether this call moved the champion.
        """
        existing = self.get_decision(d.pipeline, d.dag_run_id)
        if existing is not None:
            return existing, False
        if d.promote:
            if self._promote(d, expected_epoch, actor):
                stored = self.get_decision(d.pipeline, d.dag_run_id)
                assert stored is not None
                return stored, True
            d = replace(d, decision="superseded",
                        reason=f"{d.reason}; superseded: the champion moved after this run's "
                               f"evaluation (expected epoch {expected_epoch})")
        self._insert_once("decisions", decision_row(d))
        stored = self.get_decision(d.pipeline, d.dag_run_id)
        assert stored is not None
        return stored, False

    def _promote(self, d: DecisionRecord, expected_epoch: int, actor: str) -> bool:
        """Move the champion and write the decision in one transaction; False if either lost."""
        try:
            now = utcnow()  # the decision and its move share one moment, like one commit
            with self._begin() as conn:
                moved = self._move(conn, d.pipeline, d.candidate_version, expected_epoch,
                                   d.dag_run_id, d.data_rev, "decision", actor, d.reason,
                                   now=now) is not None
                if moved:
                    conn.execute(*self._insert_sql("decisions", decision_row(d, now)))
        except IntegrityError:
            return False  # lost the first-champion race, or a retry wrote the decision
        return moved

    def champion_moves(self, pipeline: str) -> list[dict[str, Any]]:
        return self._all("SELECT * FROM champion_moves WHERE pipeline = :p ORDER BY epoch",
                         p=pipeline)

    def promote_champion(self, pipeline: str, model_version: str, *, data_rev: str | None,
                         actor: str, reason: str,
                         action: str = "manual_promote") -> ChampionMove | None:
        """Make `model_version` the champion, replacing whichever is current at the move.

        Returns the move as audited, or None when `model_version` already is the champion.
        """
        def choose(conn: Connection, current: ChampionRecord | None) -> _Target | None:
            if current is not None and current.model_version == model_version:
                return None
            return _Target(model_version, data_rev)

        return self._locked_move(pipeline, choose, action=action, actor=actor, reason=reason)

    def rollback_champion(self, pipeline: str, *, to: str | None, actor: str,
                          reason: str) -> ChampionMove | None:
        """Move the champion back, choosing the target under the champion's lock.

        Without `to`: to the version that was champion before the current one (the `previous`
        of the move that made the current one). With `to`: to that version, which must have
        been champion before. The data revision is the one audited when it was champion.
        Returns the move as audited, or None when `to` already is the champion; raises
        MoveRefused when there is nothing to roll back to.
        """
        def choose(conn: Connection, current: ChampionRecord | None) -> _Target | None:
            if current is None:
                raise MoveRefused(f"{pipeline} has no champion to roll back")
            if to == current.model_version:
                return None
            target = to if to is not None else self._previous_champion(conn, current)
            if target is None:
                raise MoveRefused(f"{pipeline} v{current.model_version} has no previous "
                                  "champion")
            row = conn.execute(text(
                "SELECT data_rev FROM champion_moves WHERE pipeline = :p "
                "AND model_version = :v ORDER BY epoch DESC"), {"p": pipeline, "v": target}
            ).first()
            if row is None and to is not None:
                raise MoveRefused(f"v{to} was never the champion of {pipeline}: nothing to "
                                  "roll back to (promote it instead)")
            return _Target(target, None if row is None else row[0])

        return self._locked_move(pipeline, choose, action="rollback", actor=actor,
                                 reason=reason)

    @staticmethod
    def _previous_champion(conn: Connection, current: ChampionRecord) -> str | None:
        row = conn.execute(text(
            "SELECT previous_version FROM champion_moves WHERE pipeline = :p AND epoch = :e"),
            {"p": current.pipeline, "e": current.epoch}).first()
        return None if row is None else row[0]

    def _locked_move(self, pipeline: str, choose: _Choose, *, action: str, actor: str,
                     reason: str) -> ChampionMove | None:
        """Read the champion under its write lock, let `choose` pick the target from that read,
        and move there in the same transaction."""
        for attempt in range(_LOCKED_ATTEMPTS):
            try:
                with self._champion_lock() as conn:
                    lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
                    row = conn.execute(text(f"SELECT * FROM champion WHERE pipeline = :p{lock}"),
                                       {"p": pipeline}).first()
                    current = None if row is None else ChampionRecord(**row._mapping)
                    target = choose(conn, current)
                    if target is None:
                        return None
                    move = self._move(conn, pipeline, target.model_version,
                                      0 if current is None else current.epoch, None,
                                      target.data_rev, action, actor, reason)
                    if move is None:  # nothing else can move a champion we hold the lock of
                        raise RuntimeError(f"the champion of {pipeline} moved under its lock")
                    return move
            except IntegrityError:  # lost the race to create the first champion: lock it now
                if attempt == _LOCKED_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    @contextmanager
    def _champion_lock(self) -> Iterator[Connection]:
        """A transaction that holds the champion's write lock from its first statement.

        PostgreSQL: the caller's `SELECT ... FOR UPDATE` takes the row's lock. SQLite locks the
        whole database, and pysqlite would only begin at the first write (after the target was
        read), so begin IMMEDIATE ourselves: writers queue here, on the busy timeout.
        """
        require_schema(self.url, self.engine)
        with self.engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _move(self, conn: Connection, pipeline: str, model_version: str, expected_epoch: int,
              dag_run_id: str | None, data_rev: str | None, action: str, actor: str,
              reason: str, now: str | None = None) -> ChampionMove | None:
        """Compare-and-set on the epoch and write the audit row; None when the epoch is stale."""
        now = now or utcnow()
        values = {"pipeline": pipeline, "model_version": model_version, "data_rev": data_rev,
                  "dag_run_id": dag_run_id or "", "epoch": expected_epoch + 1,
                  "updated_at": now}
        previous = None
        if expected_epoch == 0:
            conn.execute(*self._insert_sql("champion", values))
        else:
            row = conn.execute(text("SELECT model_version FROM champion WHERE pipeline = :p "
                                    "AND epoch = :e"), {"p": pipeline, "e": expected_epoch})
            current = row.first()
            if current is None:
                return None
            previous = current[0]
            result = conn.execute(text(
                "UPDATE champion SET model_version = :model_version, data_rev = :data_rev, "
                "dag_run_id = :dag_run_id, epoch = :epoch, updated_at = :updated_at "
                "WHERE pipeline = :pipeline AND epoch = :expected"),
                {**values, "expected": expected_epoch})
            if result.rowcount != 1:
                return None
        move = ChampionMove(pipeline=pipeline, epoch=expected_epoch + 1,
                            model_version=model_version, previous_version=previous,
                            action=action, actor=actor, reason=reason, dag_run_id=dag_run_id,
                            data_rev=data_rev, created_at=now)
        conn.execute(*self._insert_sql("champion_moves", asdict(move)))
        return move
