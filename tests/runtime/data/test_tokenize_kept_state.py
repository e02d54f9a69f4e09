"""What tokenisation keeps per tokenizer between calls, and that it never outlives a change of the tokenizer.

The byte-level tables (and the verdict of their check against real offsets) are kept per serialized
tokenizer, the renderer with its skeletons per chat template and special tokens
(`training_hub.data.byte_level`, `training_hub.data.chat_render`). A second call with the same tokenizer
reuses them and gives the same ids and labels; a changed tokenizer or template gets its own; a shortcut
that disagreed with the real offsets once is not used for that tokenizer again.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tokenizers import processors

from training_hub.data import byte_level
from training_hub.data.byte_level import ByteLevelStarts, byte_level_starts, ids_and_starts
from training_hub.data.chat_render import ChatRenderer
from training_hub.data.formats import Record
from training_hub.data.tokenize import tokenize_chat_flat
from training_hub.tiny import WORDS

pytestmark = pytest.mark.unit


@pytest.fixture
def tokenizer(tiny_tokenizer_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from transformers import AutoTokenizer

    monkeypatch.setattr(byte_level, "_TABLES", {})  # nothing kept from other tests
    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def _records(n: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    out = []
    for line in range(1, n + 1):
        msgs = [
            {"role": "user", "content": " ".join(rng.choices(WORDS, k=rng.randint(1, 9)))},
            {"role": "assistant", "content": " " + " ".join(rng.choices(WORDS, k=rng.randint(1, 9)))},
        ]
        out.append(Record(line=line, messages=msgs))
    return out


def _labels_by_offsets(tok: Any, records: list[Record]) -> np.ndarray:
    """The labels with every start taken from the Rust encoder's offsets (no shortcut, nothing kept)."""
    renderer = ChatRenderer(tok)
    out = []
    for rec in records:
        text, spans = renderer.text_and_spans(rec.messages, frozenset({"assistant"}))
        ids, starts, _ = ids_and_starts(tok, [text], None)
        out += [
            i if any(a <= s < b for a, b in spans) else -100 for i, s in zip(ids[0], starts[0], strict=True)
        ]
    return np.asarray(out)


def test_a_second_call_reuses_the_tables_and_the_renderer_and_gives_the_same_result(tokenizer: Any) -> None:
    records = _records(40, seed=1)
    first = tokenize_chat_flat(records, tokenizer, None, str)
    tables = byte_level_starts(tokenizer)
    renderer = ChatRenderer.for_tokenizer(tokenizer)
    assert tables is not None and tables.checked  # judged against the real offsets in the first call
    second = tokenize_chat_flat(records, tokenizer, None, str)
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))
    again = byte_level_starts(tokenizer)
    assert again is not None and again.tables is tables.tables
    assert ChatRenderer.for_tokenizer(tokenizer) is renderer
    assert first[1].tolist() == _labels_by_offsets(tokenizer, records).tolist()


def test_a_changed_tokenizer_or_template_gets_its_own(tokenizer: Any) -> None:
    tables = byte_level_starts(tokenizer)
    renderer = ChatRenderer.for_tokenizer(tokenizer)
    trimming = copy.deepcopy(tokenizer)
    trimming.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=True, add_prefix_space=True)
    other = byte_level_starts(trimming)
    assert tables is not None and other is not None and other.tables is not tables.tables
    assert other.trims and not tables.trims
    records = _records(40, seed=2)
    assert (
        tokenize_chat_flat(records, trimming, None, str)[1].tolist()
        == _labels_by_offsets(trimming, records).tolist()
    )
    templated = copy.deepcopy(tokenizer)
    templated.chat_template = "{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
    assert ChatRenderer.for_tokenizer(templated) is not renderer
    assert ChatRenderer.for_tokenizer(tokenizer) is renderer


def test_a_shortcut_that_disagrees_with_the_offsets_is_dropped_for_that_tokenizer(
    tokenizer: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = ByteLevelStarts.encode_flat

    def off_by_one(self: ByteLevelStarts, texts: list[str]) -> Any:
        got = real(self, texts)
        return None if got is None else (got[0], got[1] + 1, got[2])

    monkeypatch.setattr(ByteLevelStarts, "encode_flat", off_by_one)
    records = _records(40, seed=3)
    _, labels, _ = tokenize_chat_flat(records, tokenizer, None, str)
    assert labels.tolist() == _labels_by_offsets(tokenizer, records).tolist()  # the offsets path took over
    assert byte_level_starts(tokenizer) is None  # and the shortcut stays off for this tokenizer
    monkeypatch.setattr(ByteLevelStarts, "encode_flat", real)
    assert tokenize_chat_flat(records, tokenizer, None, str)[1].tolist() == labels.tolist()
