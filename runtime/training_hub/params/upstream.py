"""Keywords of upstream training_hub 0.11's ``sft()``/``osft()``/``lora_sft()`` that are library-level only.

They are not in the TrainingRun CRD. ``None`` is "not set". Renames of our parameters (``beta1``...) are
copied onto ours before validation; the others are honoured by the backend that has the feature, and the
native engine rejects a value it cannot honour (``training_hub.backends.native``). docs/compatibility.md
lists each one. (The field declarations look like the hyperparameters' by nature: one pydantic field per
keyword.)
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from training_hub.params.base import StrictParams

#: Upstream name -> our parameter, for keywords that only differ in name (same meaning, same default).
UPSTREAM_RENAMES: dict[str, str] = {
    "beta1": "adam_beta1",
    "beta2": "adam_beta2",
    "eps": "adam_epsilon",
    "save_total_limit": "keep_last_checkpoints",
}


def _trust_remote_code() -> Any:
    """The ``trust_remote_code`` keyword, one definition for ``osft()`` and ``lora_sft()`` (a fresh field
    each time: a pydantic field is not shared between models)."""
    return Field(
        None,
        description="Load models whose code lives in their repository (native: built-in architectures only).",
    )


class _UpstreamRenames(StrictParams):
    @model_validator(mode="before")
    @classmethod
    def _copy_upstream_renames(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for upstream, ours in UPSTREAM_RENAMES.items():
            if upstream not in cls.model_fields or data.get(upstream) is None:
                continue
            if data.get(ours) is not None and data[ours] != data[upstream]:
                raise ValueError(
                    f"{upstream} (upstream's name) and {ours} are the same parameter: set one of them "
                    f"(got {data[upstream]!r} and {data[ours]!r})"
                )
            data[ours] = data[upstream]
        return data


class UpstreamAdamNames(_UpstreamRenames):
    """Upstream's AdamW keyword names (``sft``, ``osft``)."""

    beta1: float | None = Field(None, gt=0.0, lt=1.0, description="Upstream name of `adam_beta1`.")
    beta2: float | None = Field(None, gt=0.0, lt=1.0, description="Upstream name of `adam_beta2`.")
    eps: float | None = Field(None, gt=0.0, lt=1.0, description="Upstream name of `adam_epsilon`.")


class UpstreamDocumentKey(StrictParams):
    """Upstream's configurable key of pretraining documents (``sft``, ``osft``)."""

    document_column_name: str | None = Field(
        None, min_length=1, description="Key of the text in `document` data (default `document`)."
    )


class UpstreamSFTOptions(StrictParams):
    """Upstream ``sft()`` keywords of instructlab-training."""

    accelerate_full_state_at_epoch: bool | None = Field(
        None,
        description=(
            "instructlab-training: save the resumable full state at each epoch. The native engine always "
            "saves it with every checkpoint (resume needs it), so both values are accepted."
        ),
    )
    disable_flash_attn: bool | None = Field(
        None,
        description=(
            "instructlab-training: train without flash-attention (GPUs other than SM 8.x/9.0). The native "
            "engine never uses flash-attn."
        ),
    )


class UpstreamOSFTOptions(StrictParams):
    """Upstream ``osft()`` keywords of mini-trainer."""

    unmask_messages: bool | None = Field(
        None,
        description="Train on every role but system (as a sample's `unmask: true`); exclusive with `unmask_roles`.",
    )
    use_processed_dataset: bool | None = Field(
        None,
        description="mini-trainer: `data_path` is already tokenised (`input_ids`/`labels`). Native: an error.",
    )
    lr_scheduler_kwargs: dict[str, Any] | None = Field(
        None,
        description="mini-trainer: keyword arguments of the scheduler (a dict, or JSON text). Native: only empty.",
    )

    @field_validator("lr_scheduler_kwargs", mode="before")
    @classmethod
    def _json_text(cls, value: Any) -> Any:
        if isinstance(value, str):
            import json

            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise ValueError(f"must be a dict or JSON object text ({exc.msg})") from None
        return value

    save_final_checkpoint: bool | None = Field(
        None, description="Save the final model (native: always; false is an error)."
    )
    trust_remote_code: bool | None = _trust_remote_code()


LoRADatasetType = Literal["chat_template", "alpaca", "passthrough"]


class UpstreamLoRAOptions(_UpstreamRenames):
    """Upstream ``lora_sft()`` keywords (its unsloth/TRL backend)."""

    save_total_limit: int | None = Field(None, ge=1, description="Upstream name of `keep_last_checkpoints`.")
    micro_batch_size: int | None = Field(
        None,
        ge=1,
        description=(
            "Samples per device and micro-batch (unsloth). With `gradient_accumulation_steps` it sets "
            "`effective_batch_size` = micro x accumulation x processes when that is not given."
        ),
    )
    gradient_accumulation_steps: int | None = Field(
        None, ge=1, description="Micro-batches per optimizer step (unsloth); see `micro_batch_size`."
    )
    load_in_8bit: bool | None = Field(None, description="Load the base in 8 bit (unsloth on GPU only).")
    bnb_4bit_quant_type: str | None = Field(None, description="bitsandbytes 4-bit type (unsloth only).")
    bnb_4bit_compute_dtype: str | None = Field(None, description="bitsandbytes compute dtype (unsloth only).")
    bnb_4bit_use_double_quant: bool | None = Field(None, description="bitsandbytes double quantisation.")
    flash_attention: bool | None = Field(None, description="Use flash-attention (unsloth on GPU only).")
    sample_packing: bool | None = Field(
        None,
        description=(
            "Pack samples into sequences. The native engine always packs padding-free with per-sample "
            "attention (no cross-sample attention), so both values train the same."
        ),
    )
    fp16: bool | None = Field(None, description="Train in float16 (unsloth on GPU only).")
    tf32: bool | None = Field(None, description="Allow TF32 matmuls (unsloth on GPU only).")
    save_steps: int | None = Field(
        None, ge=1, description="Save a checkpoint every this many steps (`save_samples` = steps x batch)."
    )
    logging_steps: int | None = Field(
        None,
        ge=1,
        description="Log every this many steps (unsloth). The native engine logs every step.",
    )
    dataset_type: LoRADatasetType | None = Field(
        None,
        description=(
            "`chat_template` (messages), `alpaca` (instruction/input/output as one trained text, upstream's "
            "template) or `passthrough` (unsloth only)."
        ),
    )
    field_messages: str | None = Field(None, min_length=1, description="Key of the messages (`messages`).")
    field_instruction: str | None = Field(None, min_length=1, description="Key of the instruction.")
    field_input: str | None = Field(None, min_length=1, description="Key of the input.")
    field_output: str | None = Field(None, min_length=1, description="Key of the output.")
    enable_model_splitting: bool | None = Field(None, description="Split the model over GPUs (unsloth only).")
    finetune_vision_layers: bool | None = Field(
        None, description="Vision models: adapt vision layers (unsloth)."
    )
    finetune_language_layers: bool | None = Field(
        None, description="Vision models: adapt language layers (unsloth)."
    )
    trust_remote_code: bool | None = _trust_remote_code()

    @model_validator(mode="before")
    @classmethod
    def _upstream_batch_and_saves(cls, data: Any) -> Any:
        """``micro_batch_size`` x ``gradient_accumulation_steps`` x processes -> ``effective_batch_size``
        (when not given), ``save_steps`` x ``effective_batch_size`` -> ``save_samples``, as upstream."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        micro, accum = data.get("micro_batch_size"), data.get("gradient_accumulation_steps")
        if micro is not None or accum is not None:
            nproc, nnodes = data.get("nproc_per_node") or 1, data.get("nnodes") or 1
            if not isinstance(nproc, int) or not isinstance(nnodes, int):
                raise ValueError(
                    "micro_batch_size/gradient_accumulation_steps need an integer nproc_per_node to give "
                    f"the batch size (got {nproc!r}): set effective_batch_size instead"
                )
            total = (micro or 1) * (accum or 1) * nproc * nnodes
            given = data.get("effective_batch_size")
            if given is None:
                data["effective_batch_size"] = total
            elif given != total:
                raise ValueError(
                    f"effective_batch_size={given} disagrees with micro_batch_size x "
                    f"gradient_accumulation_steps x processes = {total}: set one or the other"
                )
        steps = data.get("save_steps")
        if steps is not None:
            batch = data.get("effective_batch_size") or cls.model_fields["effective_batch_size"].default
            samples = steps * batch
            if data.get("save_samples") not in (None, samples):
                raise ValueError(
                    f"save_steps={steps} (every {samples} samples) and save_samples={data['save_samples']} "
                    "disagree: set one of them"
                )
            data["save_samples"] = samples
        return data
