"""Promotions and rollbacks racing each other, against a real MLflow server and the store on
SQLite and PostgreSQL (with CT_TEST_PG set).

What "right" means, read back from the audit trail (`champion_moves`, one row per move, keyed by
the epoch it made):
- a rollback without `--to` moves the champion back to the version that was champion before
  the one it replaces: its row's new version is the `previous` of the row before it;
- every outcome an operator is told is the truth: a reported move is exactly one audit row with
  that previous -> new; a reported failure or "already the champion" is no row at all;
- once every mover is done, MLflow's `champion` alias says what the store says.

Before the fix a rollback chose its target from a read taken before the compare-and-set (so it
could install a version that was never "the one before" the champion it replaced), and a mover
whose store move succeeded raised `ChampionError` when the alias needed more attempts.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import pytest

from mlops_lib.operations import champion as ops
from mlops_lib.services import Services
from mlops_lib.stores.registry import CHAMPION

pytestmark = pytest.mark.integration

ROUNDS = 30
PROMOTERS = 2
ROLLBACKERS = 2
VERSIONS = 4


@dataclass(frozen=True)
class Reported:
    """What one call told its caller. `reason` is unique per call: it finds the call's row."""

    reason: str
    kind: str  # promote | rollback
    result: dict[str, Any] | None  # None: the call raised
    error: str = ""


def _versions(svc: Services, pipeline: str, n: int) -> list[str]:
    """Registry entries without artifacts: enough for moves and the alias."""
    name = ops.model_name(pipeline)
    svc.registry._ensure_registered_model(name)
    return [str(svc.registry.client.create_model_version(
        name, source=f"s3://nowhere/{pipeline}/{i}", tags={"ct.data_rev": f"rev{i}"}).version)
        for i in range(n)]


def _call(svc: Services, pipeline: str, kind: str, version: str | None,
          reason: str) -> Reported:
    try:
        if kind == "promote":
            assert version is not None
            result = ops.promote_version(svc, pipeline, version, reason=reason, actor=kind)
        else:
            result = ops.rollback(svc, pipeline, reason=reason, actor=kind)
    except Exception as exc:  # any failure is an outcome the operator would be told
        return Reported(reason, kind, None, f"{type(exc).__name__}: {exc}")
    return Reported(reason, kind, result)


def _race(svc: Services, pipeline: str, versions: list[str], rounds: int) -> list[Reported]:
    """Each round, PROMOTERS promotions (random versions) and ROLLBACKERS rollbacks at once."""
    rng = random.Random(20240611)
    reported: list[Reported] = []
    lock = threading.Lock()
    for round_no in range(rounds):
        calls: list[tuple[str, str | None]] = [
            ("promote", rng.choice(versions)) for _ in range(PROMOTERS)]
        calls += [("rollback", None)] * ROLLBACKERS
        barrier = threading.Barrier(len(calls))

        def mover(i: int, kind: str, version: str | None, round_no: int = round_no,
                  barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            outcome = _call(svc, pipeline, kind, version, f"round{round_no}-{kind}{i}")
            with lock:
                reported.append(outcome)

        threads = [threading.Thread(target=mover, args=(i, kind, version))
                   for i, (kind, version) in enumerate(calls)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return reported


def _wrong_rollbacks(moves: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rollback rows whose new version is not the champion before the one they replaced."""
    by_epoch = {m["epoch"]: m for m in moves}
    return [m for m in moves if m["action"] == "rollback"
            and m["model_version"] != by_epoch[m["epoch"] - 1]["previous_version"]]


def _untruthful(reported: list[Reported], moves: list[dict[str, Any]]) -> list[str]:
    """Outcomes that disagree with the audit trail."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for m in moves:
        rows.setdefault(m["reason"], []).append(m)
    problems = []
    for r in reported:
        mine = rows.get(r.reason, [])
        moved = r.result is not None and r.result.get("moved")
        if not moved:
            if mine:  # told "failed" or "nothing to do", yet the champion moved
                problems.append(f"{r.reason}: reported {r.error or r.result}, but moved {mine}")
            continue
        assert r.result is not None
        said = (r.result.get("previous"), r.result["version"])
        if [(m["previous_version"], m["model_version"]) for m in mine] != [said]:
            problems.append(f"{r.reason}: reported {said}, audit rows {mine}")
    return problems


def test_racing_promotions_and_rollbacks_tell_the_truth(svc: Services, pipeline: str) -> None:
    versions = _versions(svc, pipeline, VERSIONS)
    ops.promote_version(svc, pipeline, versions[0], reason="setup-0", actor="setup")
    ops.promote_version(svc, pipeline, versions[1], reason="setup-1", actor="setup")

    reported = _race(svc, pipeline, versions, ROUNDS)

    moves = svc.store.champion_moves(pipeline)
    assert [m["epoch"] for m in moves] == list(range(1, len(moves) + 1))
    # The audit trail is a chain: each move replaces the version the one before it installed.
    assert all(b["previous_version"] == a["model_version"] for a, b in pairwise(moves))
    wrong = _wrong_rollbacks(moves)
    untruthful = _untruthful(reported, moves)
    rollbacks = sum(m["action"] == "rollback" for m in moves)
    assert (len(wrong), len(untruthful)) == (0, 0), (
        f"{len(wrong)} of {rollbacks} rollbacks wrong: {wrong[:3]}; "
        f"{len(untruthful)} of {len(reported)} outcomes untrue: {untruthful[:3]}")
    assert rollbacks > ROUNDS // 2  # the race did exercise rollbacks
    champion = svc.store.get_champion(pipeline)
    assert champion is not None and champion.epoch == len(moves)
    assert svc.registry.alias_version(ops.model_name(pipeline), CHAMPION) == (
        champion.model_version)


def test_a_move_whose_alias_cannot_follow_is_reported_done_and_alias_pending(
        svc: Services, pipeline: str, monkeypatch: pytest.MonkeyPatch) -> None:
    v1, v2 = _versions(svc, pipeline, 2)
    ops.promote_version(svc, pipeline, v1, reason="first", actor="alice")

    def unreachable(*args: object) -> None:
        raise ConnectionError("MLflow is down")

    monkeypatch.setattr(svc.registry, "set_alias", unreachable)
    result = ops.promote_version(svc, pipeline, v2, reason="hotfix", actor="alice")

    assert result["moved"] and (result["previous"], result["version"]) == (v1, v2)
    assert "pending" in result["alias"] and "mlops reconcile" in result["alias"]
    assert [m["model_version"] for m in svc.store.champion_moves(pipeline)] == [v1, v2]
    back = ops.rollback(svc, pipeline, reason="v2 misbehaves", actor="bob")
    assert back["moved"] and (back["previous"], back["version"]) == (v2, v1)
    monkeypatch.undo()
    assert ops.reconcile(svc, pipeline).store_version == v1  # the next run repairs it
    assert svc.registry.alias_version(ops.model_name(pipeline), CHAMPION) == v1


def test_rollback_to_a_version_that_never_was_champion_is_refused(svc: Services,
                                                                   pipeline: str) -> None:
    v1, v2, v3 = _versions(svc, pipeline, 3)
    ops.promote_version(svc, pipeline, v1, reason="first")
    ops.promote_version(svc, pipeline, v2, reason="second")
    with pytest.raises(ops.ChampionError, match="never"):
        ops.rollback(svc, pipeline, to=v3, reason="not a rollback")
    with pytest.raises(ops.ChampionError, match="no version 99"):
        ops.rollback(svc, pipeline, to="99", reason="typo")
    with pytest.raises(ops.ChampionError, match="reason"):
        ops.rollback(svc, pipeline, reason=" ")
    assert ops.rollback(svc, pipeline, to=v2, reason="already")["moved"] is False
    back = ops.rollback(svc, pipeline, to=v1, reason="back")
    assert (back["previous"], back["version"], back["moved"]) == (v2, v1, True)
    assert [m["data_rev"] for m in svc.store.champion_moves(pipeline)] == ["rev0", "rev1",
                                                                           "rev0"]


def test_cli_prints_the_audited_moves(svc: Services, pipeline: str,
                                      monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from mlops_lib import cli

    for key, value in (("CT_HOME", str(svc.settings.home)),
                       ("CT_STORE_URL", svc.settings.store_url),
                       ("MLFLOW_TRACKING_URI", svc.settings.mlflow_tracking_uri)):
        monkeypatch.setenv(key, value)
    v1, v2 = _versions(svc, pipeline, 2)
    assert cli.main(["promote", pipeline, v1, "--reason", "first"]) == 0
    assert cli.main(["promote", pipeline, v2, "--reason", "second"]) == 0
    assert cli.main(["rollback", pipeline, "--reason", "second misbehaves"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(o["previous"], o["version"], o["epoch"], o["alias"]) for o in out] == [
        (None, v1, 1, "in sync"), (v1, v2, 2, "in sync"), (v2, v1, 3, "in sync")]
    assert cli.main(["rollback", pipeline, "--to", v2, "--reason", "x"]) == 0
    assert cli.main(["rollback", pipeline, "--to", "99", "--reason", "typo"]) == 1
    assert "no version 99" in capsys.readouterr().err
    assert cli.main(["history", pipeline]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [" ".join(line.split(" (epoch")[0].split()[1:]) for line in lines] == [
        f"manual_promote → v{v1}", f"manual_promote v{v1} → v{v2}",
        f"rollback v{v2} → v{v1}", f"rollback v{v1} → v{v2}"]
