-- What an operator is told and what an operator did (issue 18).
-- `alerts`: every alert the service raised, keyed by what it is about (pipeline, kind and
-- subject: a batch id, a run id, a freshness window), so a retried task or a second freshness
-- check finds the alert it raised instead of sending it again. `delivered_at` is set once a
-- notifier took it; `resolved_at` when what it reported is over (fresh data, a replayed batch,
-- an answered approval, a new decision); informational alerts (a promotion, a rollback) are
-- raised resolved. Open alerts: resolved_at IS NULL.
-- `batch_replays`: each `mlops quarantine replay` of a quarantined batch, keyed by the content
-- it judged (fingerprint) and the spec that judged it, with who asked and the verdict; the
-- quarantine copy is never deleted. Run by Alembic revision 0017_operations.
CREATE TABLE IF NOT EXISTS alerts (
    pipeline        VARCHAR(64)   NOT NULL,
    kind            VARCHAR(32)   NOT NULL,  -- rejected_batch | drift_crossing | ...
    subject         VARCHAR(1100) NOT NULL,  -- a batch id (<= 1024), run id or time
    severity        VARCHAR(16)   NOT NULL,  -- page | ticket | info
    summary         TEXT          NOT NULL,  -- one sentence: what happened
    details_json    TEXT          NOT NULL,  -- links, runbook, figures
    runbook         VARCHAR(256)  NOT NULL,  -- docs/runbooks/<page>.md
    created_at      VARCHAR(32)   NOT NULL,
    delivered_at    VARCHAR(32),
    delivery_error  TEXT,
    resolved_at     VARCHAR(32),
    PRIMARY KEY (pipeline, kind, subject)
);

CREATE INDEX IF NOT EXISTS ix_alerts_open ON alerts (pipeline, resolved_at);

CREATE TABLE IF NOT EXISTS batch_replays (
    pipeline        VARCHAR(64)   NOT NULL,
    batch_id        VARCHAR(1024) NOT NULL,
    fingerprint     VARCHAR(64)   NOT NULL,  -- the content judged
    spec_digest     VARCHAR(64)   NOT NULL,  -- the contract that judged it
    source          VARCHAR(16)   NOT NULL,  -- landing (a new upload) | quarantine (the copy)
    previous_code   VARCHAR(64),             -- the quarantine's reason code
    outcome         VARCHAR(16)   NOT NULL,  -- accepted | rejected
    reason_code     VARCHAR(64),
    reason          TEXT,
    actor           VARCHAR(128)  NOT NULL,
    created_at      VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, batch_id, fingerprint, spec_digest)
);
