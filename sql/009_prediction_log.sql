-- The prediction log: one row per scored batch, model version and role. A re-run of the same
-- batch with the same version finds its row (and rewrites the same file), so the key is what
-- makes scoring idempotent. `role` is champion (the primary output) or shadow (the challenger
-- scoring beside it, never the primary output). Run by Alembic revision 0009_prediction_log.
CREATE TABLE IF NOT EXISTS prediction_log (
    pipeline          VARCHAR(64)  NOT NULL,
    batch_id          VARCHAR(1024) NOT NULL, -- as batches.batch_id since 006
    model_version     VARCHAR(16)  NOT NULL,
    role              VARCHAR(16)  NOT NULL,  -- champion | shadow
    rows_scored       BIGINT       NOT NULL,
    predictions_uri   TEXT         NOT NULL,  -- s3://<artifacts>/predictions/<p>/<batch>/...
    input_fingerprint VARCHAR(64)  NOT NULL,  -- the scored files: keys + ETags
    scored_at         VARCHAR(32)  NOT NULL,  -- written into every row of the file
    dag_run_id        VARCHAR(250),
    PRIMARY KEY (pipeline, batch_id, model_version, role)
);
CREATE INDEX IF NOT EXISTS prediction_log_by_time ON prediction_log (pipeline, scored_at);
