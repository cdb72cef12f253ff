"""A promotion while a batch is being scored does not mix versions within it: the scoring step
resolves the champion once, before it reads anything, and scores every chunk with that
version. Against a real MLflow server, moto's S3 server and the store; the promotion is made
between two chunks of a many-chunk batch."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlops_lib.operations.champion import promote_version
from mlops_lib.scoring import batch as batch_scoring
from mlops_lib.spec import PipelineSpec
from mlops_lib.steps import scoring
from mlops_lib.stores.registry import CHAMPION
from tests.integration.scoring_support import Served, serve

pytestmark = pytest.mark.integration


@pytest.fixture
def served(spec: PipelineSpec, s3: Any, s3_endpoint: str, mlflow_server: str, store_url: str,
           tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Served:
    return serve(spec, s3, s3_endpoint, mlflow_server, store_url, tmp_path, monkeypatch)


def test_a_promotion_between_chunks_leaves_the_batch_to_the_version_resolved_first(
        served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    first = served.version
    second = served.train("train-2", seed=6)  # another training set: other numbers
    raw = served.unlabelled(350, seed=12)
    batch = served.drop(raw)
    read_chunks = batch_scoring.read_chunks
    chunks_read: list[int] = []

    def promoting_after_the_first_chunk(*args: Any, **kwargs: Any) -> Iterator[pd.DataFrame]:
        for chunk in read_chunks(*args, **{**kwargs, "chunk_rows": 100}):
            if len(chunks_read) == 1:  # scoring is under way: a new champion arrives
                promote_version(served.svc, served.spec.name, second, reason="mid-batch",
                                actor="tester")
            chunks_read.append(len(chunk))
            yield chunk

    monkeypatch.setattr(batch_scoring, "read_chunks", promoting_after_the_first_chunk)

    scored = scoring.score_batch(served.svc, served.spec, batch, "score__1")

    champion = served.svc.store.get_champion(served.spec.name)
    assert champion is not None and champion.model_version == second  # it did move mid-batch
    assert served.svc.registry.alias_version(served.spec.registered_model_name,
                                             CHAMPION) == second
    assert chunks_read == [100, 100, 100, 50]
    assert scored.record.model_version == first
    written = served.read(scored.record.predictions_uri)
    assert pq.ParquetFile(io.BytesIO(written)).num_row_groups == 4  # one per chunk
    predictions = pd.read_parquet(io.BytesIO(written))
    assert predictions["model_version"].tolist() == [first] * 350
    assert scored.record.predictions_uri.endswith(f"/champion-v{first}.parquet")
    name = served.spec.registered_model_name
    expected = mlflow.pyfunc.load_model(f"models:/{name}/{first}").predict(raw)
    assert predictions["score"].to_numpy().tobytes() == expected["score"].to_numpy().tobytes()
    assert predictions["predicted_label"].tolist() == expected["predicted_label"].tolist()
    # control: the new champion's numbers differ, so a mixed file could not pass the above
    after = mlflow.pyfunc.load_model(f"models:/{name}@champion").predict(raw)
    assert (after["score"].to_numpy() != expected["score"].to_numpy()).any()
