"""Labels from character spans (`training_hub.data.labels.label_batch`) against a per-token reference.

A token is trained iff its first character lies in a trained span of its own text. `label_batch` has three
paths (sorted starts: one search per span bound; unsorted starts; unsorted span bounds: per text); each is
compared with the rule written out token by token on random batches.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from training_hub.data.byte_level import text_starts
from training_hub.data.labels import IGNORE_INDEX, label_batch

pytestmark = pytest.mark.unit


def _reference(
    starts: list[list[int]], ids: list[list[int]], spans: list[list[tuple[int, int]]]
) -> list[int]:
    out: list[int] = []
    for t_starts, t_ids, t_spans in zip(starts, ids, spans, strict=True):
        for s, i in zip(t_starts, t_ids, strict=True):
            out.append(i if any(a <= s < b for a, b in t_spans) else IGNORE_INDEX)
    return out


Batch = tuple[list[str], list[list[int]], list[list[int]], list[list[tuple[int, int]]]]


def _batch(rng: random.Random, sorted_starts: bool, sorted_spans: bool) -> Batch:
    texts: list[str] = []
    starts: list[list[int]] = []
    ids: list[list[int]] = []
    spans: list[list[tuple[int, int]]] = []
    for _ in range(rng.randint(1, 6)):
        n = rng.randint(0, 30)
        texts.append("x" * n)
        k = rng.randint(0, 12)
        s = sorted(rng.randint(0, max(n - 1, 0)) for _ in range(k)) if n else []
        if not sorted_starts:
            rng.shuffle(s)
        starts.append(s)
        ids.append([rng.randint(0, 99) for _ in s])
        cuts = sorted(rng.randint(0, n) for _ in range(2 * rng.randint(0, 3)))
        t_spans = [(cuts[j], cuts[j + 1]) for j in range(0, len(cuts), 2)]
        if not sorted_spans and len(t_spans) > 1:
            t_spans.reverse()
        spans.append(t_spans)
    return texts, starts, ids, spans


@pytest.mark.parametrize(("sorted_starts", "sorted_spans"), [(True, True), (False, True), (True, False)])
def test_label_batch_equals_the_rule_token_by_token(sorted_starts: bool, sorted_spans: bool) -> None:
    rng = random.Random(f"{sorted_starts}-{sorted_spans}")
    for _ in range(300):
        texts, starts, ids, spans = _batch(rng, sorted_starts, sorted_spans)
        counts = np.asarray([len(s) for s in starts], dtype=np.int64)
        bases = np.repeat(text_starts(texts), counts)
        flat_starts = np.asarray([x for s in starts for x in s], dtype=np.int64) + bases
        flat_ids = np.asarray([x for i in ids for x in i], dtype=np.int32)
        got = label_batch(texts, flat_ids, flat_starts, counts, spans)
        assert got.dtype == np.int32
        assert got.tolist() == _reference(starts, ids, spans)
