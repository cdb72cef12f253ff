-- One registered model version per idempotency key (pipeline + data revision + code + training
-- settings): a run takes the key's claim row before it registers, so two runs on the same data
-- (or a cleared run and its still-living zombie) cannot both register. The primary key is what
-- serialises them; `claim_token` (one per attempt) is the compare-and-set key of a takeover
-- from a claimant that died before registering. Run by Alembic revision 0008_model_claims.
CREATE TABLE IF NOT EXISTS model_claims (
    pipeline        VARCHAR(64)  NOT NULL,
    idempotency_key VARCHAR(64)  NOT NULL,
    dag_run_id      VARCHAR(250) NOT NULL,  -- the claimant's DAG run
    claim_token     VARCHAR(64)  NOT NULL,  -- the claimant's attempt
    mlflow_run_id   VARCHAR(64),            -- the run it registers from
    model_version   VARCHAR(16),            -- set once, by the claimant, after registering
    claimed_at      VARCHAR(32)  NOT NULL,
    updated_at      VARCHAR(32)  NOT NULL,  -- the claimant's last sign of life
    PRIMARY KEY (pipeline, idempotency_key)
);
