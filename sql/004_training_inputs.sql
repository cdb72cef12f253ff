-- Training runs take batches; ingest runs only accept them (issue: triggers).
-- `training_batches` says which accepted batches each training run trained on. A live run
-- consumes a batch at most once: the partial unique index makes two live runs that race for
-- the same batch fail on the second insert. Shadow runs (backfills) read history and never
-- consume, so any number of them may train on the same batch.
CREATE TABLE IF NOT EXISTS training_batches (
    pipeline        VARCHAR(64)  NOT NULL,
    dag_run_id      VARCHAR(250) NOT NULL,
    batch_id        VARCHAR(512) NOT NULL,
    live            INTEGER      NOT NULL,   -- 1: a live run that consumed it; 0: shadow
    created_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, dag_run_id, batch_id)
);
CREATE UNIQUE INDEX IF NOT EXISTS ux_training_batches_live
    ON training_batches (pipeline, batch_id) WHERE live = 1;

-- Rows of an accepted batch (for trigger.min_new_rows) and where its validated, conformed copy
-- is staged (training reads that, not the raw drop again).
ALTER TABLE batches ADD COLUMN rows_accepted INTEGER;
ALTER TABLE batches ADD COLUMN staged_uri TEXT;
CREATE INDEX IF NOT EXISTS ix_batches_arrived ON batches (pipeline, arrived_at);

-- A batch id that lands again with different content. Batches are immutable once landed: the
-- new content is refused with reason code BATCH_CHANGED (nothing is overwritten or trained
-- on), and recorded here so the sensor does not fire on it again.
CREATE TABLE IF NOT EXISTS batch_conflicts (
    pipeline        VARCHAR(64)  NOT NULL,
    batch_id        VARCHAR(512) NOT NULL,
    fingerprint     VARCHAR(64)  NOT NULL,
    files_json      TEXT         NOT NULL,
    dag_run_id      VARCHAR(250) NOT NULL,
    created_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, batch_id, fingerprint)
);
