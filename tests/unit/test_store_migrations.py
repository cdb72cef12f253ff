"""The store's schema: Alembic revisions run by `mlops store upgrade`, never by `Store()`.

Every test runs on SQLite and, when CT_TEST_PG is set, on a fresh PostgreSQL database.
"""

from __future__ import annotations

import re
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text

from mlops_lib import cli
from mlops_lib.stores import migrations
from mlops_lib.stores.database import known_revisions
from mlops_lib.stores.sql_files import numbered_files, revision_of, run_sql_file
from mlops_lib.stores.store import SQL_DIR, Store, StoreNotReady, engine_for
from tests.support import create_pg_database, drop_pg_database, pg_server_url

pytestmark = pytest.mark.unit

P = "credit_default"
HEAD = known_revisions()[-1]
TABLES = {"batches", "quarantine", "training_runs", "decisions", "champion", "reports",
          "drift_metrics", "champion_moves", "training_batches", "batch_conflicts",
          "drift_crossings", "model_claims", "prediction_log", "scoring_batches",
          "scoring_batch_conflicts", "label_drops", "labels", "label_corrections",
          "performance_windows", "performance_crossings", "alerts", "batch_replays"}


# -- the pre-Alembic runner, as it was (mlops_lib/stores/store.py before Alembic) -------------
def old_runner(engine: Engine, sql_dir: Path = SQL_DIR) -> list[str]:
    """Apply `sql_dir/NNN_*.sql` in order, recording each name in `schema_migrations`; a file
    for another dialect is recorded without running."""
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_migrations ("
                          "name VARCHAR(128) PRIMARY KEY, applied_at VARCHAR(32) NOT NULL)"))
    applied = []
    for path in sorted(sql_dir.glob("[0-9][0-9][0-9]_*.sql")):
        stem = path.name.removesuffix(".sql")
        dialect = stem.rpartition(".")[2] if "." in stem else None
        ours = dialect is None or dialect == engine.dialect.name
        without_comments = re.sub(r"--[^\n]*", "", path.read_text())
        with engine.begin() as conn:
            for statement in [s.strip() for s in without_comments.split(";") if s.strip()]:
                if ours:
                    conn.execute(text(statement))
            conn.execute(text("INSERT INTO schema_migrations (name, applied_at) "
                              "VALUES (:n, '2026-01-01T00:00:00.000+00:00')"), {"n": path.name})
        applied.append(path.name)
    return applied


def schema_of(url: str) -> dict[str, Any]:
    """Tables, columns, keys and indexes, as the database reports them (bookkeeping left out)."""
    engine = create_engine(url)
    try:
        found = inspect(engine)
        return {table: ([(c["name"], str(c["type"]), c["nullable"])
                         for c in found.get_columns(table)],
                        found.get_pk_constraint(table)["constrained_columns"],
                        sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                               for i in found.get_indexes(table)))
                for table in sorted(found.get_table_names())
                if table not in {"alembic_version", "schema_migrations"}}
    finally:
        engine.dispose()


@contextmanager
def another_database(url: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database on the same kind of server as `url`."""
    server = pg_server_url()
    if url.startswith("sqlite") or server is None:
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    name, other = create_pg_database(server)
    try:
        yield other
    finally:
        drop_pg_database(server, name)


def with_engine(url: str) -> Engine:
    return create_engine(url)


# -- upgrade ---------------------------------------------------------------------------------
def test_upgrade_creates_every_table_once_and_says_so(empty_store_url: str) -> None:
    assert migrations.current(empty_store_url) is None
    assert migrations.upgrade(empty_store_url) == (None, HEAD)
    assert migrations.upgrade(empty_store_url) == (HEAD, HEAD)  # a second one changes nothing
    assert migrations.current(empty_store_url) == HEAD
    engine = with_engine(empty_store_url)
    try:
        tables = set(inspect(engine).get_table_names())
        with engine.connect() as conn:
            versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    finally:
        engine.dispose()
    assert tables == TABLES | {"alembic_version"}
    assert versions == [(HEAD,)]


def test_upgrade_builds_the_schema_the_old_runner_built(empty_store_url: str,
                                                        tmp_path: Path) -> None:
    migrations.upgrade(empty_store_url)
    with another_database(empty_store_url, tmp_path) as old:
        engine = with_engine(old)
        try:
            old_runner(engine)
        finally:
            engine.dispose()
        assert schema_of(empty_store_url) == schema_of(old)


def test_concurrent_upgrades_take_turns(empty_store_url: str) -> None:
    start, results, errors = threading.Barrier(4), [], []

    def upgrade() -> None:
        start.wait()
        try:
            results.append(migrations.upgrade(empty_store_url))
        except Exception as exc:  # noqa: BLE001 - the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert sorted(results, key=repr) == sorted([(None, HEAD)] + [(HEAD, HEAD)] * 3, key=repr)
    assert migrations.current(empty_store_url) == HEAD


# -- stores made by the old runner -----------------------------------------------------------
@pytest.mark.parametrize("files_then", [7, 5], ids=["all-files", "before-006"])
def test_an_old_runner_store_is_stamped_and_upgraded_keeping_its_rows(
        empty_store_url: str, tmp_path: Path, files_then: int) -> None:
    """A store the old runner made when the repo held `files_then` SQL files."""
    sql_then = tmp_path / "sql_then"
    sql_then.mkdir()
    for name in numbered_files()[:files_then]:
        shutil.copy(SQL_DIR / name, sql_then / name)
    engine = with_engine(empty_store_url)
    try:
        applied = old_runner(engine, sql_then)
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO batches (pipeline, batch_id, fingerprint, files_json, status, "
                "dag_run_id, arrived_at, updated_at) VALUES ('credit_default', 'b-old', 'fp', "
                "'[]', 'claimed', 'run-old', '2026-01-01T00:00:00.000+00:00', "
                "'2026-01-01T00:00:00.000+00:00')"))
    finally:
        engine.dispose()
    with pytest.raises(StoreNotReady, match="old migration runner.*mlops store upgrade"):
        Store(empty_store_url).get_batch(P, "b-old")

    assert migrations.upgrade(empty_store_url) == (revision_of(applied[-1]), HEAD)

    assert migrations.current(empty_store_url) == HEAD
    assert migrations.upgrade(empty_store_url) == (HEAD, HEAD)
    record = Store(empty_store_url).get_batch(P, "b-old")
    assert record is not None and record.dag_run_id == "run-old"
    store = Store(empty_store_url)
    store.accept_batch(P, "b-old", 10, "s3://staged/b-old", {"passed": True})  # 007's column
    assert store.validation_reports(P, ["b-old"]) == {"b-old": {"passed": True}}
    with another_database(empty_store_url, tmp_path) as fresh:
        migrations.upgrade(fresh)
        assert schema_of(empty_store_url) == schema_of(fresh)
    store.engine.dispose()


def test_a_file_the_old_runner_applied_out_of_order_is_not_run_again(
        empty_store_url: str) -> None:
    engine = with_engine(empty_store_url)
    try:
        old_runner(engine)
        with engine.begin() as conn:  # as if 006 had landed after 007 was applied
            conn.execute(text("DELETE FROM schema_migrations "
                              "WHERE name = '006_wide_batch_ids.postgresql.sql'"))
    finally:
        engine.dispose()
    # Stamped at 005; 006 runs (widening again is harmless), 007's ADD COLUMN must not run.
    assert migrations.upgrade(empty_store_url) == ("0005_drift_crossings", HEAD)


# -- the SQL files ---------------------------------------------------------------------------
def test_a_dialect_file_runs_only_on_its_dialect(empty_store_url: str, tmp_path: Path) -> None:
    sql = tmp_path / "sql"
    sql.mkdir()
    (sql / "001_t.sql").write_text("CREATE TABLE t (a VARCHAR(8));")
    (sql / "002_only_sqlite.sqlite.sql").write_text("INSERT INTO t (a) VALUES ('sqlite');")
    (sql / "003_only_pg.postgresql.sql").write_text(
        "-- a statement SQLite could not run\nALTER TABLE t ALTER COLUMN a TYPE VARCHAR(16);\n"
        "INSERT INTO t (a) VALUES ('postgresql');")
    engine = with_engine(empty_store_url)
    try:
        with engine.begin() as conn:
            ran = [run_sql_file(conn, name, sql) for name in numbered_files(sql)]
            rows = [r[0] for r in conn.execute(text("SELECT a FROM t"))]
        dialect = engine.dialect.name
    finally:
        engine.dispose()
    assert ran == [True, dialect == "sqlite", dialect == "postgresql"]
    assert rows == [dialect]


def test_revisions_are_one_line_named_like_their_files() -> None:
    """The store's cheap schema check reads revision ids from file names: hold Alembic to it."""
    script = ScriptDirectory.from_config(migrations.alembic_config("sqlite://"))
    chain = [r for r in reversed(list(script.walk_revisions()))]
    assert script.get_heads() == [HEAD]
    assert [r.revision for r in chain] == known_revisions()
    assert [Path(r.path).stem for r in chain] == known_revisions()
    assert [r.down_revision for r in chain] == [None, *known_revisions()[:-1]]
    assert {revision_of(name) for name in numbered_files()} <= set(known_revisions())


# -- the store itself ------------------------------------------------------------------------
def test_a_store_does_no_ddl_and_names_the_upgrade_command(empty_store_url: str) -> None:
    store = Store(empty_store_url)
    with pytest.raises(StoreNotReady, match=r"has no tables: run `mlops store upgrade`"):
        store.known_batches(P)
    with pytest.raises(StoreNotReady):  # a failed check is not remembered as passed
        store.claim_batch(P, "b1", "fp", [], "run-1")
    assert inspect(store.engine).get_table_names() == []


def test_a_store_older_than_the_code_is_refused(empty_store_url: str) -> None:
    engine = with_engine(empty_store_url)
    try:
        old_runner(engine)
    finally:
        engine.dispose()
    with engine_for(empty_store_url).begin() as conn:
        migrations.command.stamp(migrations.alembic_config(empty_store_url, conn),
                                 "0006_wide_batch_ids")
    with pytest.raises(StoreNotReady, match=f"revision 0006_wide_batch_ids, this code needs "
                                            f"{HEAD}: run `mlops store upgrade`"):
        Store(empty_store_url).get_champion(P)
    migrations.upgrade(empty_store_url)
    assert Store(empty_store_url).get_champion(P) is None


def test_stores_of_one_url_share_the_engine(store_url: str) -> None:
    assert Store(store_url).engine is Store(store_url).engine is engine_for(store_url)


# -- the commands ----------------------------------------------------------------------------
def test_mlops_store_upgrade_and_current(empty_store_url: str,
                                         capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli.main(["store", "upgrade", "--url", empty_store_url]) == 0
    assert capsys.readouterr().out.strip().endswith(f": empty -> {HEAD}")
    monkeypatch.setenv("CT_STORE_URL", empty_store_url)
    assert cli.main(["store", "current"]) == 0
    assert capsys.readouterr().out.strip() == HEAD


def test_safe_url_hides_the_password() -> None:
    assert migrations.safe_url("postgresql://ct:s3cret@db:5432/ct_store") == (
        "postgresql://ct:***@db:5432/ct_store")
