"""Whole-text samples: every token trained (upstream's LoRA: alpaca samples in its template, chat samples
rendered whole by the chat template)."""

from __future__ import annotations

from dataclasses import replace
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


def render_conversations(records: list[Record], tokenizer: Any) -> list[Record]:
    """Each chat record as the text its chat template renders (no generation prompt), as upstream's LoRA
    backend prepares ``messages`` data before training on every token of it."""
    return [
        replace(
            r, text=tokenizer.apply_chat_template(r.messages, tokenize=False, add_generation_prompt=False)
        )
        for r in records
    ]
