"""Labels from character spans: a token is trained iff its first character lies in a trained span.

Whole batches at once: the texts laid end to end, one sorted search of every token start over every span
bound (no per-token Python loop).
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from training_hub.data.byte_level import split_flat

IGNORE_INDEX = -100


def _trained_mask(starts: np.ndarray, spans: list[tuple[int, int]]) -> np.ndarray:
    """Tokens whose start lies in a trained span."""
    flat = [x for span in spans for x in span]
    if all(a <= b for a, b in zip(flat, flat[1:], strict=False)):
        # Sorted, non-overlapping spans: an odd insertion point means inside a span.
        return (np.searchsorted(np.asarray(flat, dtype=np.int64), starts, side="right") % 2).astype(bool)
    trained = np.zeros(starts.shape, dtype=bool)
    for a, b in spans:
        trained |= (starts >= a) & (starts < b)
    return trained


def label_batch(
    texts: list[str],
    flat_ids: np.ndarray,
    flat_starts: np.ndarray,
    counts: np.ndarray,
    all_spans: list[list[tuple[int, int]]],
) -> np.ndarray:
    """Labels of a batch at once: the texts laid end to end, one sorted search over all span bounds.

    Args:
        texts: The batch's texts.
        flat_ids: Every text's token ids, end to end.
        flat_starts: Every token's character start within its own text, end to end.
        counts: Tokens per text.
        all_spans: Every text's trained character spans.

    Returns:
        Every token's label, end to end (int32; the token id where trained, else `IGNORE_INDEX`).
    """
    text_base = np.concatenate([[0], np.cumsum(np.fromiter(map(len, texts), np.int64, len(texts)))])
    # Every span bound, shifted by its text's place in the batch.
    per_text = np.fromiter(map(len, all_spans), np.int64, len(all_spans)) * 2
    relative = np.fromiter(chain.from_iterable(chain.from_iterable(all_spans)), np.int64, int(per_text.sum()))
    bounds = relative + np.repeat(text_base[:-1], per_text)
    if bounds.size and np.all(np.diff(bounds) >= 0):
        # Sorted, non-overlapping spans: an odd insertion point means inside a span.
        row_starts = flat_starts + np.repeat(text_base[:-1], counts)
        trained = (np.searchsorted(bounds, row_starts, side="right") % 2).astype(bool)
        return np.where(trained, flat_ids, IGNORE_INDEX).astype(np.int32)
    labels = np.full(flat_ids.shape, IGNORE_INDEX, dtype=np.int32)
    for ids, starts, out, spans in zip(
        split_flat(flat_ids, counts),
        split_flat(flat_starts, counts),
        split_flat(labels, counts),
        all_spans,
        strict=True,
    ):
        if spans and ids.size:
            mask = _trained_mask(starts, spans)
            out[mask] = ids[mask]
    return labels
