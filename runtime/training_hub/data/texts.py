"""Whole-text samples: every token trained, no chat template (upstream's LoRA alpaca samples)."""

from __future__ import annotations

from typing import Any

import numpy as np

from training_hub.data.formats import Record
from training_hub.errors import InvalidInputError


def tokenize_texts(records: list[Record], tokenizer: Any) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tokenise each record's ``text`` (with the tokenizer's special tokens) and an EOS token.

    Returns:
        One ``(input_ids, labels)`` pair per record, every token trained.

    Raises:
        InvalidInputError: The tokenizer has no EOS token.
    """
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise InvalidInputError("whole-text samples need a tokenizer with an eos_token")
    encoded = tokenizer([r.text or "" for r in records])["input_ids"]
    out = []
    for ids in encoded:
        arr = np.asarray([*ids, eos], dtype=np.int32)
        out.append((arr, arr.copy()))
    return out
