-- Drift decision statistics per batch and feature (mlops_lib.drift), written by the monitor.
-- One row per (pipeline, batch, feature); a retried task finds its rows and writes nothing.
-- Statistics that do not apply to a feature (Wasserstein of a categorical, anything of a
-- feature with no values to compare) are NULL. `drifted` is 0/1 so both databases agree.

CREATE TABLE IF NOT EXISTS drift_metrics (
    pipeline        VARCHAR(64)  NOT NULL,
    batch_id        VARCHAR(512) NOT NULL,
    dag_run_id      VARCHAR(250) NOT NULL,   -- the run that computed them
    feature         VARCHAR(128) NOT NULL,
    kind            VARCHAR(16)  NOT NULL,   -- numeric | categorical
    method          VARCHAR(32)  NOT NULL,   -- statistic of the verdict: wasserstein | jensenshannon | psi
    score           DOUBLE PRECISION,        -- value of that statistic
    threshold       DOUBLE PRECISION NOT NULL,
    psi             DOUBLE PRECISION,
    wasserstein     DOUBLE PRECISION,        -- normed by the reference std
    js              DOUBLE PRECISION,        -- Jensen-Shannon distance
    unseen_share    DOUBLE PRECISION,        -- categorical: current rows with categories unseen in the reference
    null_share      DOUBLE PRECISION NOT NULL,
    drifted         INTEGER      NOT NULL,   -- 0 | 1
    created_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, batch_id, feature)
);

-- The drift-threshold sensor polls the newest rows of a pipeline.
CREATE INDEX IF NOT EXISTS ix_drift_metrics_recent ON drift_metrics (pipeline, created_at);
