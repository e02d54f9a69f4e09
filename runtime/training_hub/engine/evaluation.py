"""The eval loss of the native engine: held-out or separate data, computed on every rank at fixed steps.

Where the eval data comes from: ``eval_data_path`` (tokenised like the training data) or, for ``sft`` and
``osft``, ``validation_split`` (a seeded fraction of the training samples held out, as instructlab-training
and mini-trainer do). When it is computed (upstream's points):

* ``sft``/``osft``: every ``validation_frequency`` steps (``step % validation_frequency == 0``, the
  engines' rule); without a frequency at the end of every epoch and at the last step;
* ``lora_sft``: every ``eval_steps`` steps (Hugging Face Trainer's ``eval_strategy="steps"``, default
  500).

The loss is the token mean of the cross-entropy over every trained token of the eval data (the same
definition as the training loss), summed over ranks: each rank evaluates its share of the micro-batches
and every rank runs the same number of forwards (FSDP needs that).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from training_hub.data import BatchPlanner, TokenizedDataset, collate_packed
from training_hub.engine.distributed import DistContext
from training_hub.engine.token_loss import summed_token_loss
from training_hub.errors import InvalidInputError
from training_hub.params import EngineParams


@dataclass(frozen=True)
class EvalSchedule:
    """When the eval loss is computed.

    Attributes:
        every: Every this many optimizer steps (None: not by step count).
        at_epoch_end: Also at the end of every epoch and at the last step.
    """

    every: int | None
    at_epoch_end: bool

    def due(self, step: int, epoch_end: bool, last_step: bool) -> bool:
        """Whether to evaluate after optimizer step ``step`` (1-based)."""
        if self.every and step % self.every == 0:
            return True
        return self.at_epoch_end and (epoch_end or last_step)


def eval_schedule(algorithm: str, params: EngineParams | Mapping[str, Any]) -> EvalSchedule | None:
    """The schedule of a run, or None when it has no eval data."""
    values = params if isinstance(params, Mapping) else params.model_dump()
    if not values.get("eval_data_path") and not values.get("validation_split"):
        return None
    if algorithm == "lora_sft":
        return EvalSchedule(every=int(values["eval_steps"]), at_epoch_end=False)
    every = values.get("validation_frequency")
    return EvalSchedule(every=every, at_epoch_end=every is None)


def subset(dataset: TokenizedDataset, indices: np.ndarray) -> TokenizedDataset:
    """The samples ``indices`` of a dataset, in that order."""
    samples = [dataset.sample(int(i)) for i in indices]
    return TokenizedDataset.from_samples(samples, [int(dataset.lines[i]) for i in indices])


def split_validation(
    dataset: TokenizedDataset, fraction: float, seed: int
) -> tuple[TokenizedDataset, TokenizedDataset]:
    """Hold out ``fraction`` of the samples (at least one, seeded): ``(train, validation)``.

    Raises:
        InvalidInputError: When no training sample would be left.
    """
    n = len(dataset)
    n_val = max(1, int(round(fraction * n)))
    if n_val >= n:
        raise InvalidInputError(
            f"validation_split={fraction} holds out {n_val} of {n} samples and leaves none to train on: "
            "lower validation_split or add data"
        )
    order = np.random.default_rng([seed, 7919]).permutation(n)
    val_idx, train_idx = np.sort(order[:n_val]), np.sort(order[n_val:])
    return subset(dataset, train_idx), subset(dataset, val_idx)


class Evaluator:
    """Computes the eval loss of a model on a fixed dataset (collective: every rank calls it).

    Args:
        dataset: The eval data.
        max_tokens: Token budget of an eval micro-batch (the training one).
        samples_per_batch: Samples per micro-batch instead of token packing (``per_device_eval_batch_size``).
        ctx: This rank.
    """

    def __init__(
        self, dataset: TokenizedDataset, max_tokens: int, samples_per_batch: int | None, ctx: DistContext
    ) -> None:
        if not len(dataset) or int(dataset.num_targets.sum()) == 0:
            raise InvalidInputError("the eval data has no trained tokens: its loss is undefined")
        self.dataset = dataset
        self.ctx = ctx
        indices = list(range(len(dataset)))
        if samples_per_batch:
            ordered = sorted(indices, key=lambda j: (-int(dataset.lengths[j]), j))
            batches = [ordered[i : i + samples_per_batch] for i in range(0, len(ordered), samples_per_batch)]
        else:
            planner = BatchPlanner(dataset.lengths, dataset.num_targets, len(dataset), max_tokens)
            batches = planner.pack(indices)
        rounds = math.ceil(len(batches) / ctx.world_size)
        #: This rank's micro-batches; ``[]`` entries are padding forwards whose loss is not counted.
        self.batches = [
            batches[j] if (j := r * ctx.world_size + ctx.rank) < len(batches) else [] for r in range(rounds)
        ]

    def evaluate(
        self, model: Any, autocast: AbstractContextManager[Any], forward: Callable[[Any, dict[str, Any]], Any]
    ) -> dict[str, float]:
        """``{"eval_loss": ..., "eval_tokens": ...}`` of the model as it is now.

        Args:
            model: The (wrapped) model.
            autocast: The training autocast context.
            forward: ``forward(model, batch) -> logits`` as in training.
        """
        import torch
        import torch.distributed as dist

        device = self.ctx.device
        totals = torch.zeros(2, dtype=torch.float64, device=device)
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad():
                for indices in self.batches:
                    batch = {
                        k: torch.from_numpy(v).to(device)
                        for k, v in collate_packed(self.dataset, indices, 0).items()
                    }
                    with autocast:
                        logits = forward(model, batch)
                    targets = batch["targets"].view(-1)
                    # In fp32 a chunk of tokens at a time, as training's loss: no fp32 copy of all the logits.
                    ce = summed_token_loss(logits, targets)
                    if indices:
                        totals[0] += ce.to(torch.float64)
                        totals[1] += (targets != -100).sum()
        finally:
            model.train(was_training)
        if self.ctx.distributed:
            dist.all_reduce(totals)
        loss, tokens = float(totals[0].item()), int(totals[1].item())
        return {"eval_loss": loss / max(tokens, 1), "eval_tokens": tokens}


def setup_evaluation(
    algorithm: str,
    params: EngineParams,
    dataset: TokenizedDataset,
    prepare: Callable[[str], TokenizedDataset],
    max_tokens: int,
    ctx: DistContext,
) -> tuple[TokenizedDataset, Evaluator | None, EvalSchedule | None]:
    """The training data (without a held-out part), the evaluator and its schedule (None: no eval data).

    Args:
        algorithm: The algorithm.
        params: The engine parameters.
        dataset: The prepared training data.
        prepare: Tokenises a data file like the training data (collective).
        max_tokens: The micro-batch token budget.
        ctx: This rank.
    """
    schedule = eval_schedule(algorithm, params)
    if schedule is None:
        return dataset, None, None
    eval_path = getattr(params, "eval_data_path", None)  # dpo has none
    if eval_path:
        eval_data = prepare(str(eval_path))
    else:
        split = float(getattr(params, "validation_split", 0.0))
        dataset, eval_data = split_validation(dataset, split, params.seed)
    evaluator = Evaluator(eval_data, max_tokens, getattr(params, "per_device_eval_batch_size", None), ctx)
    return dataset, evaluator, schedule
