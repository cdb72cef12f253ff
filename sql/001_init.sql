-- The project's own metadata store: what arrived, what ran, what was decided, who is champion.
-- Portable DDL for SQLite and PostgreSQL. Timestamps are UTC ISO-8601 text so both agree.
-- Run once by Alembic revision 0001_init (sql/migrations/; `mlops store upgrade`).

CREATE TABLE IF NOT EXISTS batches (
    pipeline        VARCHAR(64)  NOT NULL,
    batch_id        VARCHAR(512) NOT NULL,
    fingerprint     VARCHAR(64)  NOT NULL,  -- sha256 over (key, etag) of every data file
    files_json      TEXT         NOT NULL,  -- [{key, etag, size}]
    status          VARCHAR(16)  NOT NULL,  -- claimed | accepted | rejected
    reason_code     VARCHAR(64),
    reason          TEXT,
    dag_run_id      VARCHAR(250) NOT NULL,  -- the run that claimed it
    arrived_at      VARCHAR(32)  NOT NULL,
    updated_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, batch_id)
);

CREATE TABLE IF NOT EXISTS quarantine (
    pipeline          VARCHAR(64)  NOT NULL,
    batch_id          VARCHAR(512) NOT NULL,
    reason_code       VARCHAR(64)  NOT NULL,
    reason            TEXT         NOT NULL,
    quarantine_uri    TEXT         NOT NULL,
    report_json       TEXT,
    created_at        VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, batch_id)
);

CREATE TABLE IF NOT EXISTS training_runs (
    pipeline        VARCHAR(64)  NOT NULL,
    dag_run_id      VARCHAR(250) NOT NULL,
    batch_id        VARCHAR(512) NOT NULL,
    trigger_json    TEXT         NOT NULL,  -- why the run fired
    data_rev        VARCHAR(64),            -- git commit of the DVC dataset repo
    data_md5        VARCHAR(64),            -- DVC content hash of the training set
    mlflow_run_id   VARCHAR(64),
    model_version   VARCHAR(16),
    created_at      VARCHAR(32)  NOT NULL,
    updated_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, dag_run_id)
);

CREATE TABLE IF NOT EXISTS decisions (
    pipeline          VARCHAR(64)  NOT NULL,
    dag_run_id        VARCHAR(250) NOT NULL,
    candidate_version VARCHAR(16)  NOT NULL,
    baseline_version  VARCHAR(16),
    metric            VARCHAR(32)  NOT NULL,
    candidate_value   DOUBLE PRECISION NOT NULL,
    baseline_value    DOUBLE PRECISION,
    decision          VARCHAR(16)  NOT NULL,  -- promote | keep | superseded
    reason            TEXT         NOT NULL,
    data_rev          VARCHAR(64),
    details_json      TEXT         NOT NULL,
    created_at        VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, dag_run_id)      -- one immutable decision per run
);

CREATE TABLE IF NOT EXISTS champion (
    pipeline        VARCHAR(64)  NOT NULL PRIMARY KEY,
    model_version   VARCHAR(16)  NOT NULL,
    data_rev        VARCHAR(64),
    dag_run_id      VARCHAR(250) NOT NULL,   -- the run whose decision promoted it
    epoch           INTEGER      NOT NULL,   -- bumped on every move; compare-and-set key
    updated_at      VARCHAR(32)  NOT NULL
);

CREATE TABLE IF NOT EXISTS reports (
    pipeline        VARCHAR(64)  NOT NULL,
    dag_run_id      VARCHAR(250) NOT NULL,
    kind            VARCHAR(32)  NOT NULL,   -- data_drift | data_summary
    format          VARCHAR(8)   NOT NULL,   -- html | json
    uri             TEXT         NOT NULL,
    created_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, dag_run_id, kind, format)
);
