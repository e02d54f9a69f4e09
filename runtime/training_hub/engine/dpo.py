"""DPO in the native engine: the preference objective the :class:`~training_hub.engine.trainer.Trainer` calls.

The trainer keeps its data plan, distribution, optimizer, checkpoints, resume and metrics file; this objective
supplies what differs from SFT: the preference data (:mod:`training_hub.data.preference`), the frozen
reference (a second copy of the starting weights, the base model with the LoRA adapter disabled, or reference
log-probs computed once up front or given in the data), the per-micro-batch loss and the reward metrics of a
step. A micro-batch is one packed row of chosen and rejected rows; a pair never splits across micro-batches.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from typing import Any, cast

from training_hub.data.preference import PreferenceDataset, prepare_preferences
from training_hub.engine.config import EngineConfig
from training_hub.engine.distributed import DistContext
from training_hub.engine.dpo_loss import STAT_NAMES, DPOLossConfig, dpo_pair_losses, row_logps
from training_hub.engine.packed_attention import packed_kwargs, packed_rows
from training_hub.params import DPOParams

log = logging.getLogger("training_hub.engine")


def _forward_logits(model: Any, batch: dict[str, Any]) -> Any:
    with packed_rows():  # packed rows: no (T, T) mask is built, as for SFT's forward
        out = model(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            use_cache=False,
            **packed_kwargs(batch["position_ids"]),
        )
    return out.logits


class DPOObjective:
    """The preference objective of one rank.

    Args:
        cfg: Engine configuration (algorithm ``dpo``).
        ctx: This rank.
    """

    def __init__(self, cfg: EngineConfig, ctx: DistContext) -> None:
        p = cast(DPOParams, cfg.params)
        self.cfg = cfg
        self.ctx = ctx
        self.loss_cfg = DPOLossConfig(
            beta=float(p.beta), loss_type=str(p.loss_type), label_smoothing=float(p.label_smoothing)
        )
        self.reference: Any = None  # a separate frozen model, when one is used
        self.adapter_reference = False  # LoRA: the reference is the model with the adapter disabled
        self._stats: Any = None
        #: FSDP: the reference is sharded too, so its forwards are collective (every rank runs as many).
        self.sharded = cfg.strategy == "fsdp" and ctx.distributed
        self.dataset: PreferenceDataset | None = None

    # ------------------------------------------------------------------------------------------- data
    def prepare(self, data_path: str, tokenizer: Any, **kwargs: Any) -> tuple[PreferenceDataset, Any]:
        """Read and tokenise the preference pairs (the trainer's data preparation for ``dpo``)."""
        return prepare_preferences(
            data_path,
            tokenizer,
            max_seq_len=int(kwargs["max_seq_len"]),
            overlong_policy=str(kwargs.get("overlong_policy", "truncate")),
        )

    # -------------------------------------------------------------------------------------- reference
    def setup(self, bundle: Any, dataset: PreferenceDataset, autocast: Any, pad_id: int) -> None:
        """Choose the reference; with ``precompute_ref_log_probs``, compute every pair's reference log-probs
        (pairs shared among the ranks) and free the reference model."""
        p = cast(DPOParams, self.cfg.params)
        self.dataset = dataset
        if dataset.ref_logps is not None:
            if self.ctx.is_main:
                log.info("dpo: reference log-probs come from the data")
            return
        if bundle.lora:
            self.adapter_reference = True
        else:
            self.reference = self._load_reference(str(p.reference_model_path or p.model_path))
        if p.precompute_ref_log_probs:
            self._precompute(bundle, dataset, autocast, pad_id)
            self.reference = None
            self.adapter_reference = False

    def _load_reference(self, path: str) -> Any:
        import torch

        from training_hub.engine.model_setup import load_causal_lm

        model = load_causal_lm(self.cfg, path)
        model.requires_grad_(False)
        model.eval()
        model.to(self.ctx.device)
        if self.cfg.bf16:
            model.to(torch.bfloat16)
        if self.sharded:
            from torch.distributed.fsdp import fully_shard

            from training_hub.engine.model_setup import _decoder_layer_classes

            layer_types = _decoder_layer_classes(model)
            shard: Any = fully_shard
            for module in list(model.modules()):
                if layer_types and isinstance(module, layer_types):
                    shard(module)
            shard(model)
        if self.ctx.is_main:
            log.info("dpo: frozen reference model from %s", path)
        return model

    def _reference_row_logps(self, bundle: Any, batch: dict[str, Any], num_rows: int) -> Any:
        import torch

        with torch.no_grad():
            if self.adapter_reference:
                with bundle.unwrapped.disable_adapter():
                    logits = _forward_logits(bundle.unwrapped, batch)
            else:
                logits = _forward_logits(self.reference, batch)
            return row_logps(logits, batch["targets"], batch["row_index"], num_rows)

    def _precompute(self, bundle: Any, dataset: PreferenceDataset, autocast: Any, pad_id: int) -> None:
        import numpy as np
        import torch.distributed as dist

        mine = list(range(self.ctx.rank, len(dataset), self.ctx.world_size))
        rounds = -(-len(dataset) // self.ctx.world_size)  # equal on every rank (collective under FSDP)
        values: dict[int, tuple[float, float]] = {}
        was_training = bundle.unwrapped.training
        bundle.unwrapped.eval()
        for k in range(rounds):
            pair = [mine[k]] if k < len(mine) else []
            batch = self._to_device(dataset.collate(pair, pad_id))
            with autocast:
                logps = self._reference_row_logps(bundle, batch, max(2 * len(pair), 1))
            if pair:
                values[pair[0]] = (float(logps[0]), float(logps[1]))
        bundle.unwrapped.train(was_training)
        if self.ctx.distributed:
            gathered: list[Any] = [None] * self.ctx.world_size
            dist.all_gather_object(gathered, values)
            for part in gathered:
                values.update(part)
        dataset.ref_logps = np.asarray([values[i] for i in range(len(dataset))], dtype=np.float64)
        if self.ctx.is_main:
            log.info("dpo: precomputed reference log-probs of %d pairs", len(dataset))

    def _to_device(self, batch: dict[str, Any]) -> dict[str, Any]:
        import torch

        return {k: torch.from_numpy(v).to(self.ctx.device) for k, v in batch.items()}

    # ------------------------------------------------------------------------------------------ steps
    def micro_batch(
        self, model: Any, bundle: Any, indices: list[int], autocast: Any, scale: float, pad_id: int
    ) -> Any:
        """Forward and backward one micro-batch of pairs; return the summed pair losses (detached, float64).

        Args:
            model: What the step calls (DDP/FSDP-wrapped).
            bundle: The model bundle.
            indices: Pairs of this micro-batch (may be empty: a dummy row keeps collectives in step).
            autocast: The autocast context.
            scale: Multiplier of the summed loss before backward (world size / pairs in the global batch).
            pad_id: Padding token of the dummy row.
        """
        import torch

        if self.dataset is None:
            raise RuntimeError("DPOObjective.setup() was not called")
        if self._stats is None:
            self._stats = torch.zeros(len(STAT_NAMES), dtype=torch.float64, device=self.ctx.device)
        batch = self._to_device(self.dataset.collate(indices, pad_id))
        num_rows = 2 * len(indices)
        with autocast:
            logits = _forward_logits(model, batch)
        if not indices:  # keep every parameter in the graph so DDP/FSDP hooks fire on every rank
            if self.sharded and self.reference is not None:
                with autocast:
                    self._reference_row_logps(bundle, batch, 1)
            (logits.float().sum() * 0.0).backward()
            return torch.zeros((), dtype=torch.float64, device=self.ctx.device)
        policy = row_logps(logits, batch["targets"], batch["row_index"], num_rows).view(-1, 2)
        if "ref_logps" in batch:
            ref = batch["ref_logps"]
        else:
            ctx = autocast if autocast is not None else nullcontext()
            with ctx:
                ref = self._reference_row_logps(bundle, batch, num_rows).view(-1, 2)
        losses, stats = dpo_pair_losses(self.loss_cfg, policy, ref, batch["response_tokens"])
        total = losses.sum()
        (total * scale).backward()
        self._stats += stats
        return total.detach().to(torch.float64)

    def step_metrics(self, num_pairs: int) -> dict[str, float]:
        """The step's reward statistics (means over the global batch; collective), then reset."""
        import torch
        import torch.distributed as dist

        stats = self._stats
        if stats is None:
            stats = torch.zeros(len(STAT_NAMES), dtype=torch.float64, device=self.ctx.device)
        if self.ctx.distributed:
            dist.all_reduce(stats)
        self._stats = None
        n = max(num_pairs, 1)
        return {name: float(v) / n for name, v in zip(STAT_NAMES, stats.tolist(), strict=True)}
