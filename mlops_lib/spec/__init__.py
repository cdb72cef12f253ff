"""The pipeline spec: what a data engineer writes in `pipelines/<name>.yaml`.

The records (`PipelineSpec`, `Feature`, ...) are frozen pydantic dataclasses: `load_spec`
checks a file against them, `dataclasses.replace`/`asdict` work on them as on any dataclass.
"""

from mlops_lib.spec.base import SpecError
from mlops_lib.spec.contract import Contract, ExtraColumnsPolicy, Freshness
from mlops_lib.spec.features import Dtype, Feature, Role
from mlops_lib.spec.loading import json_schema, load_spec, load_specs
from mlops_lib.spec.metric import MetricPolicy, SliceSpec, TaskType
from mlops_lib.spec.pipeline import PipelineSpec
from mlops_lib.spec.promotion import PromotionMode, PromotionSection
from mlops_lib.spec.scoring import ScoringConfig
from mlops_lib.spec.source import DEFAULT_MAX_FILE_BYTES, FileFormat, Source
from mlops_lib.spec.training import DaskConfig, TrainingConfig, TrainingEngine
from mlops_lib.spec.trigger import (
    ArrivalMode,
    DriftPolicy,
    PerformancePolicy,
    RetrainCause,
    TriggerConfig,
)

__all__ = [
    "ArrivalMode",
    "Contract",
    "DEFAULT_MAX_FILE_BYTES",
    "DaskConfig",
    "DriftPolicy",
    "PerformancePolicy",
    "Dtype",
    "ExtraColumnsPolicy",
    "Feature",
    "FileFormat",
    "Freshness",
    "MetricPolicy",
    "PipelineSpec",
    "PromotionMode",
    "PromotionSection",
    "RetrainCause",
    "Role",
    "ScoringConfig",
    "SliceSpec",
    "Source",
    "SpecError",
    "TaskType",
    "TrainingConfig",
    "TrainingEngine",
    "TriggerConfig",
    "json_schema",
    "load_spec",
    "load_specs",
]
