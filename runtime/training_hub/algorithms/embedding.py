"""``embedding_sft``: contrastive fine-tuning of sentence-embedding models (upstream training_hub 0.10+).

The keywords are upstream's (the fields of :class:`training_hub.params.EmbeddingSFTParams`, plus the
``loss_fn`` object and ``max_steps``); ``None`` means "not set". The ``sentence-transformers`` backend
trains (:mod:`training_hub.backends.sentence_transformers_backend`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from training_hub.algorithms.base import Callbacks, ParamsAlgorithm, create_algorithm
from training_hub.algorithms.validation import validated
from training_hub.params import param_model


class EmbeddingSFTAlgorithm(ParamsAlgorithm):
    """Contrastive fine-tuning of an embedding model so that texts of one label cluster together."""

    name = "embedding_sft"

    def get_optional_params(self) -> dict[str, Any]:
        return {**super().get_optional_params(), "loss_fn": Callable}

    def train(self, callbacks: Callbacks = None, **kwargs: Any) -> Any:
        """Validate the keywords and train (``loss_fn``: a custom sentence-transformers loss)."""
        loss_fn = kwargs.pop("loss_fn", None)
        kwargs.pop("backend", None)
        params = validated(self.name, kwargs)
        if loss_fn is not None:
            params["loss_fn"] = loss_fn
        return self.backend.execute_training(params, callbacks=callbacks)


def embedding_sft(
    model_path: str,
    data_path: str,
    ckpt_output_dir: str,
    *,
    backend: str = "sentence-transformers",
    loss_type: str | None = None,
    loss_fn: Callable[..., Any] | None = None,
    num_epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float | None = None,
    warmup_ratio: float | None = None,
    batch_sampler: str | None = None,
    eval_data_path: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    seed: int | None = None,
    max_steps: int | None = None,
    nproc_per_node: int | str | None = None,
    nnodes: int | None = None,
    node_rank: int | None = None,
    rdzv_id: str | int | None = None,
    rdzv_endpoint: str | None = None,
    master_addr: str | None = None,
    master_port: int | None = None,
) -> Any:
    """Fine-tune a sentence-embedding model with a contrastive loss so that same-label texts cluster.

    Returns:
        ``{"status": "success", "model_path", "num_samples", "num_epochs", "loss"}`` as upstream (``loss``
        is the loss name, or ``custom (<class>)`` with ``loss_fn``).
    """
    values = {k: v for k, v in locals().items() if k not in ("backend", "loss_fn")}
    algorithm = create_algorithm("embedding_sft", backend=backend or "auto")
    return algorithm.train(loss_fn=loss_fn, **values)


def _doc() -> str:
    lines = ["Args:"]
    for name, field in param_model("embedding_sft").model_fields.items():
        default = "required" if field.is_required() else f"default {field.default!r}"
        lines.append(f"    {name}: {field.description or ''} ({default})")
    lines.append("    loss_fn: A custom loss (e.g. a sentence-transformers loss); overrides loss_type.")
    return "\n".join(lines)


embedding_sft.__doc__ = f"{(embedding_sft.__doc__ or '').rstrip()}\n\n{_doc()}\n"
