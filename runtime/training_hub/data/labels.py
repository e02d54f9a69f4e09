"""Labels from character spans: a token is trained iff its first character lies in a trained span.

Whole batches at once: the texts laid end to end, every span bound placed among the token starts with one
sorted search (no per-token Python loop).
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from training_hub.data.byte_level import split_flat, text_starts

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
    """Labels of a batch at once from each text's own spans: :func:`label_by_bounds` (which documents
    ``texts``, ``flat_ids``, ``flat_starts`` and ``counts`` and what is returned) with the bounds laid out
    flat, shifted by each text's place in the batch.

    Args:
        all_spans: Every text's trained character spans, relative to the text.
    """
    bases = text_starts(texts)
    # Every span bound, shifted by its text's place in the batch.
    per_text = np.fromiter(map(len, all_spans), np.int64, len(all_spans)) * 2
    relative = np.fromiter(chain.from_iterable(chain.from_iterable(all_spans)), np.int64, int(per_text.sum()))
    return label_by_bounds(
        texts, flat_ids, flat_starts, counts, relative + np.repeat(bases, per_text), per_text
    )


def label_by_bounds(
    texts: list[str],
    flat_ids: np.ndarray,
    flat_starts: np.ndarray,
    counts: np.ndarray,
    bounds: np.ndarray,
    per_text: np.ndarray,
) -> np.ndarray:
    """:func:`label_batch` with the span bounds given flat (as :meth:`ChatRenderer.fill` gives them).

    Args:
        texts: The batch's texts.
        flat_ids: Every text's token ids, end to end.
        flat_starts: Every token's character start in the texts laid end to end.
        counts: Tokens per text.
        bounds: Every trained span's start and end (start, end, start, ...), text after text, as positions
            in the texts laid end to end.
        per_text: Each text's number of bounds (twice its spans).

    Returns:
        Every token's label, end to end (int32; the token id where trained, else `IGNORE_INDEX`).
    """
    if bounds.size and np.all(bounds[1:] >= bounds[:-1]):
        # Sorted, non-overlapping spans: a token is trained iff an odd number of bounds lie at or before
        # its start.
        if np.all(flat_starts[1:] >= flat_starts[:-1]):
            # Sorted starts (the byte-level shortcut's always are): bound k falls before token cut[k], so
            # the tokens run untrained, trained, untrained, ... between the cuts: one search per bound.
            cut = np.searchsorted(flat_starts, bounds, side="left")
            runs = np.diff(cut, prepend=0, append=flat_ids.size)
            trained = np.repeat(np.arange(runs.size) % 2 == 1, runs)
        else:
            trained = (np.searchsorted(bounds, flat_starts, side="right") % 2).astype(bool)
        return np.where(trained, flat_ids, IGNORE_INDEX).astype(np.int32, copy=False)
    bases = text_starts(texts)
    relative = bounds - np.repeat(bases, per_text)
    labels = np.full(flat_ids.shape, IGNORE_INDEX, dtype=np.int32)
    for ids, starts, out, text_bounds, base in zip(
        split_flat(flat_ids, counts),
        split_flat(flat_starts, counts),
        split_flat(labels, counts),
        split_flat(relative, per_text),
        bases.tolist(),
        strict=True,
    ):
        if text_bounds.size and ids.size:
            spans = [(a, b) for a, b in text_bounds.reshape(-1, 2).tolist()]
            mask = _trained_mask(starts - base, spans)
            out[mask] = ids[mask]
    return labels
