-- Every move of a pipeline's champion: by a pipeline decision, a manual promotion, a rollback.
-- Written in the same transaction as the compare-and-set on `champion`, keyed by the new epoch,
-- so the audit trail can never disagree with the live champion.
CREATE TABLE IF NOT EXISTS champion_moves (
    pipeline          VARCHAR(64)  NOT NULL,
    epoch             INTEGER      NOT NULL,   -- the champion's epoch after this move
    model_version     VARCHAR(16)  NOT NULL,
    previous_version  VARCHAR(16),
    action            VARCHAR(32)  NOT NULL,   -- decision | manual_promote | rollback
    actor             VARCHAR(128) NOT NULL,
    reason            TEXT         NOT NULL,
    dag_run_id        VARCHAR(250),
    data_rev          VARCHAR(64),
    created_at        VARCHAR(32)  NOT NULL,
    PRIMARY KEY (pipeline, epoch)
);
