-- Every crossing of a pipeline's drift policy (mlops_lib.drift_policy): the decision to
-- retrain because of drift, stored as data before anything acts on it. Keyed by the newest
-- batch of the crossing, so a retried monitor task or a re-fired trigger records it once;
-- the newest row's created_at is what the policy's cooldown counts from.
-- Numbered 005 because 004 is taken by a concurrent change; plain types so SQLite and
-- PostgreSQL agree, timestamps as sortable UTC ISO text like the other tables.

CREATE TABLE IF NOT EXISTS drift_crossings (
    pipeline        VARCHAR(64)  NOT NULL,
    batch_id        VARCHAR(512) NOT NULL,   -- the newest batch of the crossing
    dag_run_id      VARCHAR(250) NOT NULL,   -- the run that recorded it
    reason          TEXT         NOT NULL,   -- DriftVerdict.reason, a sentence
    evidence_json   TEXT         NOT NULL,   -- batch ids + DriftVerdict.evidence (numbers vs limits)
    created_at      VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, batch_id)
);

-- The cooldown reads a pipeline's newest crossing.
CREATE INDEX IF NOT EXISTS ix_drift_crossings_recent ON drift_crossings (pipeline, created_at);
