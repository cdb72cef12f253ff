-- Crossings of a pipeline's performance policy (trigger.performance): the champion's realized
-- performance on late labels fell beyond its limit. Keyed by the newest breaching window of
-- the champion version, so a retried policy task announces the crossing it recorded, and a
-- later labels run that finds the same window does not announce it again. The newest row's
-- created_at starts the cooldown. Run by Alembic revision 0013_performance_crossings.
CREATE TABLE IF NOT EXISTS performance_crossings (
    pipeline        VARCHAR(64)   NOT NULL,
    model_version   VARCHAR(16)   NOT NULL,  -- the champion judged
    window_kind     VARCHAR(8)    NOT NULL,  -- batch | rows
    window_key      VARCHAR(1024) NOT NULL,  -- the newest breaching window
    dag_run_id      VARCHAR(250)  NOT NULL,  -- the labels run that recorded it
    reason          TEXT          NOT NULL,  -- PerformanceVerdict.reason, a sentence
    evidence_json   TEXT          NOT NULL,  -- windows, limit, baseline, policy
    created_at      VARCHAR(32)   NOT NULL,
    PRIMARY KEY (pipeline, model_version, window_kind, window_key)
);

CREATE INDEX IF NOT EXISTS ix_performance_crossings_recent
    ON performance_crossings (pipeline, created_at);
