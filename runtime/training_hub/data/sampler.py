"""Padding-free batching by token budget, deterministic and resumable.

Per optimizer step the planner takes the next `effective_batch_size` samples of the epoch's permutation
(seeded by `seed` and the epoch; the last step of an epoch may be smaller: no sample is dropped), splits
them among the ranks balancing tokens (longest first, to the rank with fewest tokens), and packs each
rank's share into micro-batches of at most `max_tokens_per_gpu` tokens (first-fit decreasing). Every rank
computes the same plan for all ranks, so all ranks run the same number of micro-batches (shorter shares get
empty micro-batches) and know the global number of trained tokens without communication.

A micro-batch is one row of concatenated samples with `position_ids` restarting at 0 for each sample:
transformers' padding-free convention, which keeps attention within each sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from training_hub.data.dataset import TokenizedDataset
from training_hub.data.labels import IGNORE_INDEX
from training_hub.errors import InvalidInputError


@dataclass
class StepPlan:
    """The work of one optimizer step.

    Attributes:
        epoch: 0-based epoch.
        step_in_epoch: 0-based step within the epoch.
        sample_indices: Every sample of the global batch (all ranks), in order of the permutation.
        rank_micro_batches: For each rank, its micro-batches (lists of sample indices; may be empty lists).
        num_tokens: Tokens in the global batch.
        num_targets: Trained (shifted) targets in the global batch: the loss denominator.
    """

    epoch: int
    step_in_epoch: int
    sample_indices: list[int]
    rank_micro_batches: list[list[list[int]]] = field(default_factory=list)
    num_tokens: int = 0
    num_targets: int = 0

    @property
    def num_samples(self) -> int:
        """Samples in the global batch."""
        return len(self.sample_indices)


class BatchPlanner:
    """Plans every step of every epoch from the sample lengths alone.

    Args:
        lengths: Tokens per sample.
        num_targets: Trained targets per sample.
        effective_batch_size: Samples per optimizer step over all ranks.
        max_tokens_per_gpu: Token budget of a micro-batch.
        world_size: Number of ranks.
        seed: Seed of the data order.

    Raises:
        InvalidInputError: If a sample is longer than `max_tokens_per_gpu`.
    """

    def __init__(
        self,
        lengths: np.ndarray,
        num_targets: np.ndarray,
        effective_batch_size: int,
        max_tokens_per_gpu: int,
        world_size: int = 1,
        seed: int = 42,
    ) -> None:
        self.lengths = np.asarray(lengths, dtype=np.int64)
        self.num_targets = np.asarray(num_targets, dtype=np.int64)
        self.effective_batch_size = effective_batch_size
        self.max_tokens = max_tokens_per_gpu
        self.world_size = world_size
        self.seed = seed
        longest = int(self.lengths.max()) if self.lengths.size else 0
        if longest > max_tokens_per_gpu:
            raise InvalidInputError(
                f"the longest sample has {longest} tokens, more than max_tokens_per_gpu={max_tokens_per_gpu}: "
                "raise max_tokens_per_gpu or lower max_seq_len (samples are never split across micro-batches)"
            )
        self._order_cache: tuple[int, np.ndarray] | None = None

    @property
    def num_samples(self) -> int:
        """Samples in the dataset."""
        return int(self.lengths.size)

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps per epoch (the last one may hold fewer samples)."""
        return math.ceil(self.num_samples / self.effective_batch_size)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The permutation of sample indices of an epoch (depends only on seed and epoch)."""
        if self._order_cache is None or self._order_cache[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._order_cache = (epoch, rng.permutation(self.num_samples))
        return self._order_cache[1]

    def split_ranks(self, indices: list[int]) -> list[list[int]]:
        """Split a global batch among ranks, balancing tokens (deterministic)."""
        shares: list[list[int]] = [[] for _ in range(self.world_size)]
        loads = [0] * self.world_size
        for i in sorted(indices, key=lambda j: (-int(self.lengths[j]), j)):
            r = min(range(self.world_size), key=lambda k: (loads[k], k))
            shares[r].append(i)
            loads[r] += int(self.lengths[i])
        return shares

    def pack(self, indices: list[int]) -> list[list[int]]:
        """Pack samples into micro-batches of at most `max_tokens_per_gpu` tokens (first-fit decreasing)."""
        bins: list[list[int]] = []
        room: list[int] = []
        for i in sorted(indices, key=lambda j: (-int(self.lengths[j]), j)):
            n = int(self.lengths[i])
            for b, free in enumerate(room):
                if n <= free:
                    bins[b].append(i)
                    room[b] -= n
                    break
            else:
                bins.append([i])
                room.append(self.max_tokens - n)
        return bins

    def step_batches(self, epoch: int, step_in_epoch: int) -> StepPlan:
        """One optimizer step's batches: the global batch, each rank's micro-batches, and the loss denominator."""
        if not 0 <= step_in_epoch < self.steps_per_epoch:
            raise IndexError(f"step {step_in_epoch} out of range 0..{self.steps_per_epoch - 1}")
        order = self.epoch_order(epoch)
        lo = step_in_epoch * self.effective_batch_size
        batch = [int(i) for i in order[lo : lo + self.effective_batch_size]]
        per_rank = [self.pack(share) for share in self.split_ranks(batch)]
        count = max(1, max(len(mbs) for mbs in per_rank))
        for mbs in per_rank:
            mbs.extend([] for _ in range(count - len(mbs)))
        return StepPlan(
            epoch=epoch,
            step_in_epoch=step_in_epoch,
            sample_indices=batch,
            rank_micro_batches=per_rank,
            num_tokens=int(self.lengths[batch].sum()),
            num_targets=int(self.num_targets[batch].sum()),
        )


def collate_packed(
    dataset: TokenizedDataset, indices: list[int], pad_token_id: int = 0
) -> dict[str, np.ndarray]:
    """Concatenate samples into one padding-free row.

    Args:
        dataset: The tokenised dataset.
        indices: Samples of the micro-batch (empty: a one-token dummy row with no target).
        pad_token_id: Token of the dummy row.

    Returns:
        `input_ids`, `position_ids` (restarting per sample) and `targets` (labels shifted left within each
        sample: `targets[t]` is the label of token `t + 1` of the same sample, -100 at a sample's last
        token), each of shape `(1, total_tokens)` and dtype int64.
    """
    if not indices:
        one = np.asarray([[pad_token_id]], dtype=np.int64)
        return {
            "input_ids": one,
            "position_ids": np.zeros((1, 1), dtype=np.int64),
            "targets": np.full((1, 1), IGNORE_INDEX, dtype=np.int64),
        }
    ids_parts, pos_parts, tgt_parts = [], [], []
    for i in indices:
        ids, labels = dataset.sample(i)
        ids_parts.append(ids)
        pos_parts.append(np.arange(ids.size, dtype=np.int64))
        tgt = np.empty(ids.size, dtype=np.int64)
        tgt[:-1] = labels[1:]
        tgt[-1] = IGNORE_INDEX
        tgt_parts.append(tgt)
    return {
        "input_ids": np.concatenate(ids_parts).astype(np.int64)[None, :],
        "position_ids": np.concatenate(pos_parts)[None, :],
        "targets": np.concatenate(tgt_parts)[None, :],
    }
