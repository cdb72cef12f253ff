-- Scoring batches: the scoring DAG's claim on each unlabelled batch, as `batches` is the ingest
-- DAG's. Keyed by pipeline + batch id, with the content fingerprint: the scoring sensor fires
-- only on (batch id, fingerprint) pairs not in here or in scoring_batch_conflicts, so a batch is
-- scored by one run, and a re-run of that run finds its claim. The versions that score it are
-- pinned here the first time (`model_version`: the champion; `shadow_version`: the challenger),
-- so a retried or cleared task scores with them again whatever was promoted meanwhile.
-- Run by Alembic revision 0010_scoring_batches.
CREATE TABLE IF NOT EXISTS scoring_batches (
    pipeline        VARCHAR(64)   NOT NULL,
    batch_id        VARCHAR(1024) NOT NULL,
    fingerprint     VARCHAR(64)   NOT NULL,
    status          VARCHAR(16)   NOT NULL,  -- claimed | scored | rejected
    reason_code     VARCHAR(64),
    model_version   VARCHAR(16),             -- the champion that scores it, once resolved
    shadow_version  VARCHAR(16),             -- the challenger scoring beside it, if any
    dag_run_id      VARCHAR(250)  NOT NULL,
    claimed_at      VARCHAR(32)   NOT NULL,
    updated_at      VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, batch_id)
);

-- A batch id that landed again with other content: refused (BATCH_CHANGED), and kept here so
-- that the sensor does not fire on it again.
CREATE TABLE IF NOT EXISTS scoring_batch_conflicts (
    pipeline    VARCHAR(64)   NOT NULL,
    batch_id    VARCHAR(1024) NOT NULL,
    fingerprint VARCHAR(64)   NOT NULL,
    dag_run_id  VARCHAR(250)  NOT NULL,
    created_at  VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, batch_id, fingerprint)
);
