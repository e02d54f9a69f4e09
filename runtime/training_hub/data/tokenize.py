"""Tokenisation with exact label masking by character spans.

A chat sample is rendered with the tokenizer's own chat template, which also gives the character spans of
its trained messages (:mod:`training_hub.data.chat_render`). The whole text is tokenised once (in
batches, in Rust) with each token's character start (:mod:`training_hub.data.byte_level`), and a token is
trained iff its first character lies in a trained span (:mod:`training_hub.data.labels`). No per-token
Python loop is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from training_hub.data.byte_level import (
    SerializedTokenizer,
    byte_level_starts,
    encode_texts,
    flat_ids_and_starts,
    split_flat,
)
from training_hub.data.chat_render import ChatRenderer, trained_roles_for
from training_hub.data.formats import Record
from training_hub.data.labels import label_batch, label_by_bounds
from training_hub.errors import DataFormatError, InvalidInputError

_BATCH = 512
# Texts of the first batch on which the byte-level shortcut is checked against real offsets.
_CHECKED_TEXTS = 8


def tokenize_chat(
    records: list[Record],
    tokenizer: Any,
    unmask_roles: Sequence[str] | None,
    where: Callable[[Record], str],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`tokenize_chat_flat`, one `(input_ids int32, labels int32)` pair per record (views)."""
    ids, labels, counts = tokenize_chat_flat(records, tokenizer, unmask_roles, where)
    return list(zip(split_flat(ids, counts), split_flat(labels, counts), strict=True))


def tokenize_chat_flat(
    records: list[Record],
    tokenizer: Any,
    unmask_roles: Sequence[str] | None,
    where: Callable[[Record], str],
    *,
    serialized: SerializedTokenizer | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tokenise chat records into flat `input_ids` and `labels` arrays with exact masking.

    Args:
        records: Validated `messages`/`alpaca` records.
        tokenizer: A transformers fast tokenizer with a chat template.
        unmask_roles: Roles to train on besides the per-sample `unmask` flag (None: assistant only).
        where: Names a record's `file:line` for error messages.
        serialized: The tokenizer's serialized form where the caller has it already (else it is read).

    Returns:
        Every record's token ids and labels laid end to end (int32; labels are -100 where masked), and
        each record's token count.

    Raises:
        DataFormatError: If the template refuses a sample (for example, roles out of order).
    """
    renderer = ChatRenderer.for_tokenizer(tokenizer)
    # The trained roles of a sample without and with `unmask` (the same for every sample).
    roles = trained_roles_for(Record(line=0), unmask_roles)
    unmasked = trained_roles_for(Record(line=0, unmask=True), unmask_roles)
    fast = byte_level_starts(tokenizer, serialized)
    ids: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    counts: list[np.ndarray] = []
    for lo in range(0, len(records), _BATCH):
        chunk = records[lo : lo + _BATCH]
        conversations = [rec.messages for rec in chunk]
        batch_roles = [unmasked if rec.unmask else roles for rec in chunk]
        filled = renderer.fill(conversations, batch_roles)
        if filled is not None:
            texts, bounds, per_text = filled
            misses: list[int] = []
        else:
            texts, all_spans, misses = renderer.by_skeletons(conversations, batch_roles)
        for i in misses:
            rec = chunk[i]
            try:
                texts[i], all_spans[i] = renderer.text_and_spans(
                    rec.messages, unmasked if rec.unmask else roles
                )
            except InvalidInputError:
                raise
            except Exception as exc:
                raise DataFormatError(
                    f"{where(rec)}: the chat template rejected this sample: {exc}"
                ) from None
        flat_ids, flat_starts, n_tokens, used_fast = flat_ids_and_starts(tokenizer, texts, fast)
        if used_fast and fast is not None and not fast.checked:
            # The shortcut must agree with the tokenizer's own offsets (checked once per tokenizer).
            n_check = min(len(texts), _CHECKED_TEXTS)
            ref_ids, ref_starts, ref_counts, _ = flat_ids_and_starts(tokenizer, texts[:n_check], None)
            checked_tokens = int(ref_counts.sum())
            same = (
                np.array_equal(n_tokens[:n_check], ref_counts)
                and np.array_equal(flat_ids[:checked_tokens], ref_ids)
                and np.array_equal(flat_starts[:checked_tokens], ref_starts)
            )
            fast.judged(same)
            if not same:
                fast = None
                flat_ids, flat_starts, n_tokens, _ = flat_ids_and_starts(tokenizer, texts, None)
        ids.append(flat_ids)
        if filled is not None:
            labels.append(label_by_bounds(texts, flat_ids, flat_starts, n_tokens, bounds, per_text))
        else:
            labels.append(label_batch(texts, flat_ids, flat_starts, n_tokens, all_spans))
        counts.append(n_tokens)
    if not ids:
        return np.zeros(0, np.int32), np.zeros(0, np.int32), np.zeros(0, np.int64)
    return np.concatenate(ids), np.concatenate(labels), np.concatenate(counts)


def tokenize_documents(
    records: list[Record], tokenizer: Any, block_size: int
) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[int]]:
    """Tokenise documents, join them with the EOS token and cut the stream into `block_size` chunks.

    Args:
        records: Validated `document` records.
        tokenizer: A transformers fast tokenizer with an EOS token.
        block_size: Chunk length; the last chunk may be shorter (it is kept).

    Returns:
        The chunks as `(input_ids, labels)` pairs (every token trained) and each chunk's first source line.

    Raises:
        InvalidInputError: If the tokenizer has no EOS token.
    """
    eos = getattr(tokenizer, "eos_token_id", None)
    if eos is None:
        raise InvalidInputError("document data needs a tokenizer with an eos_token")
    pieces: list[np.ndarray] = []
    line_of_token_start: list[tuple[int, int]] = []
    pos = 0
    for lo in range(0, len(records), _BATCH):
        chunk = records[lo : lo + _BATCH]
        for rec, enc in zip(chunk, encode_texts(tokenizer, [r.document or "" for r in chunk]), strict=True):
            ids = np.asarray([*enc.ids, eos], dtype=np.int32)
            pieces.append(ids)
            line_of_token_start.append((pos, rec.line))
            pos += ids.size
    stream = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int32)
    starts = np.asarray([p for p, _ in line_of_token_start], dtype=np.int64)
    lines = np.asarray([ln for _, ln in line_of_token_start], dtype=np.int64)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    first_lines: list[int] = []
    for a in range(0, stream.size, block_size):
        ids = stream[a : a + block_size]
        out.append((ids, ids.copy()))
        first_lines.append(int(lines[np.searchsorted(starts, a, side="right") - 1]))
    return out, first_lines
