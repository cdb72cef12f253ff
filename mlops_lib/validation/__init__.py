"""The data contract: refuse a landed batch early and say why, or cast it for training.

In the order a batch meets them: `listing` (keys and sizes, before any download),
`manifest_check` (bytes and rows against the producer's manifest), `reading` (the files as one
frame), `checks.validate_batch` (the contract, collected into a `report.ValidationReport`),
`conform` (the cast to the spec's dtypes). `reasons` holds the stable reason codes and
`BatchRejected`. `reasons`, `report` and `listing` import no pandas; keep this file empty of
imports so that a light task pays only for what it uses.
"""
