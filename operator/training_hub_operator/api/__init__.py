"""The TrainingRun API (``traininghub.io/v1alpha1``): pydantic models, the single source of truth."""

from training_hub_operator.api.constants import API_VERSION, GROUP, KIND, PLURAL, VERSION
from training_hub_operator.api.spec import TrainingRunSpec
from training_hub_operator.api.status import TrainingRunStatus
from training_hub_operator.api.validation import SpecError, ValidatedSpec, validate_spec

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "VERSION",
    "SpecError",
    "TrainingRunSpec",
    "TrainingRunStatus",
    "ValidatedSpec",
    "validate_spec",
]
