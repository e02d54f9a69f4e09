"""Where the model and data come from and where results go (the operator maps ``pvc://`` URIs)."""

from __future__ import annotations

from pydantic import Field, field_validator

from training_hub.params.base import StrictParams
from training_hub.storage.uri import split_uri


class DataLocations(StrictParams):
    """Where the model and data come from and where results go."""

    model_path: str = Field(..., min_length=1, description="Hugging Face model directory (or hub id).")
    data_path: str = Field(..., min_length=1, description="Training data: a JSONL file.")
    ckpt_output_dir: str = Field(..., min_length=1, description="Directory for checkpoints and metrics.")
    data_output_dir: str | None = Field(
        None, description="Directory for processed data (default: `<ckpt_output_dir>/data`)."
    )
    checkpoint_storage: str | None = Field(
        None,
        description=(
            "Mirror every checkpoint and the final model to this fsspec URI (`s3://bucket/prefix`, "
            "`gs://...`, `file://...`) with completion markers; a run whose `ckpt_output_dir` holds no "
            "checkpoint resumes from the newest complete one there. `pvc` or unset: local only."
        ),
    )

    @field_validator("checkpoint_storage")
    @classmethod
    def _storage_uri(cls, value: str | None) -> str | None:
        if value in (None, "", "pvc"):
            return None
        try:
            split_uri(str(value))
        except ValueError:
            raise ValueError(f"must be 'pvc' or a URI such as 's3://bucket/prefix', got {value!r}") from None
        return value


class EvalDataLocation(StrictParams):
    """Where evaluation data comes from."""

    eval_data_path: str | None = Field(
        None,
        min_length=1,
        description="Evaluation data (same format as `data_path`): its loss is logged as `eval_loss`.",
    )


class EmbeddingDataLocations(StrictParams):
    """Where the embedding model and its labelled texts are, and where the fine-tuned model goes."""

    model_path: str = Field(..., min_length=1, description="sentence-transformers model directory.")
    data_path: str = Field(..., min_length=1, description="Training data: JSONL of `text` and `label`.")
    ckpt_output_dir: str = Field(..., min_length=1, description="Directory of the fine-tuned model.")
