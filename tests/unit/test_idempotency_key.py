from __future__ import annotations

from dataclasses import replace

import pytest

from mlops_lib.spec import PipelineSpec
from mlops_lib.steps.train import idempotency_key
from mlops_lib.training import trainer as training

pytestmark = pytest.mark.unit


def test_same_inputs_give_the_same_key(spec: PipelineSpec) -> None:
    assert idempotency_key(spec, "rev1") == idempotency_key(spec, "rev1")
    assert len(idempotency_key(spec, "rev1")) == 64


def test_key_changes_with_data_params_code_or_inputs(spec: PipelineSpec,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    base = idempotency_key(spec, "rev1")
    deeper = replace(spec, training=replace(spec.training,
                                            params={**spec.training.params, "max_depth": 9}))
    fewer = replace(spec, features=spec.features[:-1])
    assert idempotency_key(spec, "rev2") != base
    assert idempotency_key(deeper, "rev1") != base
    assert idempotency_key(fewer, "rev1") != base
    assert idempotency_key(replace(spec, name="other"), "rev1") != base
    monkeypatch.setattr(training, "git_sha", lambda: "another-commit")
    assert idempotency_key(spec, "rev1") != base
