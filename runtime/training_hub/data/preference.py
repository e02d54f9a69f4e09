"""Preference pairs for DPO: JSONL reading, tokenisation, and packed micro-batches of chosen/rejected rows.

Formats (one JSON object per line; blank lines are skipped):

* standard: ``{"prompt": "...", "chosen": "...", "rejected": "..."}`` (the tokenizer's eos token is appended to
  a response that does not end with it);
* chat: ``{"prompt": [messages], "chosen": [messages], "rejected": [messages]}``, rendered with the
  tokenizer's chat template (the prompt with the generation prompt); without ``prompt``, the longest common
  message prefix of ``chosen`` and ``rejected`` is the prompt.

Optional numbers ``ref_chosen_logps`` and ``ref_rejected_logps`` (on every line or on none) are the reference
model's summed log-probs of the responses; training then needs no reference model.

The response starts where the tokenised prompt and prompt + response first differ (the convention of TRL's
``DPOTrainer``), so only response tokens are trained. Every malformed line raises
:class:`~training_hub.errors.DataFormatError` naming the file and the 1-based line number, before any compute.

torch is not imported here (numpy only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from training_hub.data.dataset import DataStats, TokenizedDataset
from training_hub.data.formats import ROLES, json_lines
from training_hub.data.labels import IGNORE_INDEX
from training_hub.data.sampler import collate_packed
from training_hub.errors import DataFormatError, InvalidInputError

PREFERENCE_KEYS: tuple[str, ...] = ("chosen", "rejected")
REF_KEYS: tuple[str, ...] = ("ref_chosen_logps", "ref_rejected_logps")


@dataclass
class PreferenceRecord:
    """One validated preference pair.

    Attributes:
        line: 1-based line number in the file.
        prompt: The prompt: text, or chat messages.
        chosen: The preferred response: text, or chat messages.
        rejected: The dispreferred response: text, or chat messages.
        ref_logps: The reference log-probs ``(chosen, rejected)`` given in the data, if any.
    """

    line: int
    prompt: str | list[dict[str, str]]
    chosen: str | list[dict[str, str]]
    rejected: str | list[dict[str, str]]
    ref_logps: tuple[float, float] | None = None

    @property
    def conversational(self) -> bool:
        """True for the chat form."""
        return isinstance(self.chosen, list)


def is_preference_sample(obj: dict[str, Any]) -> bool:
    """Whether a JSON object looks like a preference pair (has ``chosen`` and ``rejected``)."""
    return all(k in obj for k in PREFERENCE_KEYS)


def _messages(value: Any, where: str, key: str) -> list[dict[str, str]]:
    if not value:
        raise DataFormatError(f"{where}: `{key}` is empty")
    out = []
    for i, msg in enumerate(value):
        here = f"{where}: `{key}` message {i}"
        if not isinstance(msg, dict):
            raise DataFormatError(f"{here}: must be an object, got {type(msg).__name__}")
        role, content = msg.get("role"), msg.get("content")
        if not isinstance(role, str) or role not in ROLES:
            raise DataFormatError(f"{here}: unknown role {role!r} (allowed: {', '.join(sorted(ROLES))})")
        if not isinstance(content, str):
            raise DataFormatError(f"{here}: `content` must be a string, got {type(content).__name__}")
        out.append({"role": role, "content": content})
    return out


def parse_preference(obj: dict[str, Any], where: str, line: int) -> PreferenceRecord:
    """Validate one JSON object as a preference pair.

    Raises:
        DataFormatError: Naming ``where`` (``file:line``) and what is wrong.
    """
    missing = [k for k in PREFERENCE_KEYS if k not in obj]
    if missing:
        raise DataFormatError(
            f"{where}: missing key(s) {', '.join(f'`{k}`' for k in missing)}: a preference pair needs "
            "`chosen` and `rejected` (and `prompt`, or chat messages whose common prefix is the prompt)"
        )
    chosen, rejected = obj["chosen"], obj["rejected"]
    prompt = obj.get("prompt")
    if isinstance(chosen, str) and isinstance(rejected, str):
        if not isinstance(prompt, str):
            raise DataFormatError(
                f"{where}: `prompt` must be a string when `chosen`/`rejected` are strings, got "
                f"{type(prompt).__name__ if 'prompt' in obj else 'nothing'}"
            )
        record = PreferenceRecord(line=line, prompt=prompt, chosen=chosen, rejected=rejected)
    elif isinstance(chosen, list) and isinstance(rejected, list):
        c, r = _messages(chosen, where, "chosen"), _messages(rejected, where, "rejected")
        if prompt is None:
            n = 0
            while n < min(len(c), len(r)) and c[n] == r[n]:
                n += 1
            p, c, r = c[:n], c[n:], r[n:]
            if not p:
                raise DataFormatError(
                    f"{where}: without `prompt`, `chosen` and `rejected` share no first message"
                )
            if not c or not r:
                raise DataFormatError(f"{where}: `chosen` and `rejected` are the same conversation")
        elif isinstance(prompt, list):
            p = _messages(prompt, where, "prompt")
        else:
            raise DataFormatError(
                f"{where}: `prompt` must be a list of messages when `chosen`/`rejected` are, got "
                f"{type(prompt).__name__}"
            )
        record = PreferenceRecord(line=line, prompt=p, chosen=c, rejected=r)
    else:
        raise DataFormatError(
            f"{where}: `chosen` and `rejected` must both be strings or both be lists of messages, got "
            f"{type(chosen).__name__} and {type(rejected).__name__}"
        )
    given = [k for k in REF_KEYS if k in obj]
    if given:
        if len(given) != len(REF_KEYS):
            raise DataFormatError(
                f"{where}: set both `ref_chosen_logps` and `ref_rejected_logps`, or neither"
            )
        values = []
        for k in REF_KEYS:
            v = obj[k]
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
                raise DataFormatError(f"{where}: `{k}` must be a finite number, got {v!r}")
            values.append(float(v))
        record.ref_logps = (values[0], values[1])
    return record


def read_preferences(path: str | Path) -> list[PreferenceRecord]:
    """Read and validate a whole preference JSONL file.

    Raises:
        InvalidInputError: If the file does not exist.
        DataFormatError: On the first malformed line (file and line in the message), mixed standard and
            chat lines, reference log-probs on some lines only, or an empty file.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"data file {str(p)!r} does not exist (or is not a file)")
    records: list[PreferenceRecord] = []
    for lineno, where, obj in json_lines(p):
        rec = parse_preference(obj, where, lineno)
        if records and rec.conversational != records[0].conversational:
            raise DataFormatError(
                f"{where}: mixes chat and plain-text pairs (line {records[0].line} is "
                f"{'chat' if records[0].conversational else 'plain text'})"
            )
        if records and (rec.ref_logps is None) != (records[0].ref_logps is None):
            raise DataFormatError(
                f"{where}: `ref_chosen_logps`/`ref_rejected_logps` must be on every line or on none "
                f"(line {records[0].line} {'has' if records[0].ref_logps else 'has not'} them)"
            )
        records.append(rec)
    if not records:
        raise DataFormatError(f"{p}: the file holds no sample")
    return records


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _ids(result: Any) -> list[int]:
    ids = result["input_ids"] if isinstance(result, dict) or hasattr(result, "keys") else result
    return [int(t) for t in ids]


def tokenize_pair(record: PreferenceRecord, tokenizer: Any) -> tuple[list[int], list[int], list[int]]:
    """Tokenise a pair into ``(prompt_ids, chosen_ids, rejected_ids)`` (responses without the prompt).

    Raises:
        DataFormatError: If chat data meets a tokenizer without a chat template.
    """
    if record.conversational:
        if not getattr(tokenizer, "chat_template", None):
            raise DataFormatError("chat preference pairs need a tokenizer with a chat template")

        def render(messages: list[dict[str, str]], gen: bool) -> list[int]:
            out = tokenizer.apply_chat_template(
                messages, tokenize=True, return_dict=True, add_generation_prompt=gen
            )
            return _ids(out)

        prompt, chosen_msgs, rejected_msgs = (
            m if isinstance(m, list) else [] for m in (record.prompt, record.chosen, record.rejected)
        )
        prompt_ids = render(prompt, True)
        full_c = render(prompt + chosen_msgs, False)
        full_r = render(prompt + rejected_msgs, False)
    else:
        eos = tokenizer.eos_token or ""
        chosen, rejected = str(record.chosen), str(record.rejected)
        chosen = chosen if chosen.endswith(eos) else chosen + eos
        rejected = rejected if rejected.endswith(eos) else rejected + eos
        prompt_ids = _ids(tokenizer(text=str(record.prompt)))
        full_c = _ids(tokenizer(text=str(record.prompt) + chosen))
        full_r = _ids(tokenizer(text=str(record.prompt) + rejected))
    n = min(_common_prefix(prompt_ids, full_c), _common_prefix(prompt_ids, full_r))
    return prompt_ids[:n], full_c[n:], full_r[n:]


class PreferenceDataset:
    """Preference pairs as a :class:`TokenizedDataset` of rows ``2i`` (chosen) and ``2i + 1`` (rejected).

    The batch planner sees one sample per pair (``lengths`` and ``num_targets`` of both rows together), so a
    pair never splits across micro-batches or ranks.

    Attributes:
        rows: The chosen and rejected rows (labels: the response tokens, -100 on the prompt).
        lines: Source line of each pair.
        ref_logps: ``(num_pairs, 2)`` reference log-probs (chosen, rejected), or None until computed.
    """

    def __init__(
        self, rows: TokenizedDataset, lines: np.ndarray, ref_logps: np.ndarray | None = None
    ) -> None:
        self.rows = rows
        self.lines = np.asarray(lines, dtype=np.int64)
        self.ref_logps = ref_logps
        self.lengths = rows.lengths[0::2] + rows.lengths[1::2]
        self.num_targets = rows.num_targets[0::2] + rows.num_targets[1::2]
        labelled = np.concatenate([[0], np.cumsum(rows.labels != IGNORE_INDEX)])
        per_row = labelled[rows.offsets[1:]] - labelled[rows.offsets[:-1]]
        #: Labelled (response) tokens of each pair's rows, shape ``(num_pairs, 2)``.
        self.response_tokens = per_row.astype(np.int64).reshape(-1, 2)

    def __len__(self) -> int:
        return len(self.rows) // 2

    def collate(self, indices: list[int], pad_token_id: int = 0) -> dict[str, np.ndarray]:
        """One packed row of the pairs' chosen then rejected rows.

        Returns:
            :func:`~training_hub.data.sampler.collate_packed`'s ``input_ids``, ``position_ids`` and ``targets``,
            plus ``row_index`` (which of the ``2 * len(indices)`` rows each token belongs to: ``2k`` is the
            chosen row of ``indices[k]``, ``2k + 1`` its rejected row), ``response_tokens`` (labelled tokens of
            each row, shape ``(len(indices), 2)``), ``pair_index`` (``indices``) and, when
            known, ``ref_logps`` of shape ``(len(indices), 2)``.
        """
        row_ids = [r for i in indices for r in (2 * i, 2 * i + 1)]
        batch = collate_packed(self.rows, row_ids, pad_token_id)
        if row_ids:
            lengths = self.rows.lengths[row_ids]
            batch["row_index"] = np.repeat(np.arange(len(row_ids), dtype=np.int64), lengths)[None, :]
        else:
            batch["row_index"] = np.zeros((1, 1), dtype=np.int64)
        batch["response_tokens"] = self.response_tokens[np.asarray(indices, dtype=np.int64)]
        batch["pair_index"] = np.asarray(indices, dtype=np.int64)
        if self.ref_logps is not None:
            batch["ref_logps"] = self.ref_logps[np.asarray(indices, dtype=np.int64)].astype(np.float64)
        return batch


@dataclass
class _Kept:
    rows: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    refs: list[tuple[float, float]] = field(default_factory=list)


def prepare_preferences(
    data_path: str | Path, tokenizer: Any, *, max_seq_len: int, overlong_policy: str = "truncate"
) -> tuple[PreferenceDataset, DataStats]:
    """Validate and tokenise a preference JSONL file.

    A row longer than ``max_seq_len`` keeps its first ``max_seq_len`` tokens (``truncate``; a pair whose prompt
    alone fills ``max_seq_len`` is dropped, as it has no response token left), is dropped with its pair
    (``drop``) or is an error (``error``).

    Returns:
        The dataset and its statistics (``format`` is ``preference`` or ``preference-chat``; counts are in
        pairs, token counts in tokens of both rows).

    Raises:
        InvalidInputError: On a missing file or an unknown policy.
        DataFormatError: On malformed data (file and line named) or when no pair is left.
    """
    if overlong_policy not in ("truncate", "drop", "error"):
        raise InvalidInputError(
            f"unknown overlong_policy {overlong_policy!r}; choose truncate, drop or error"
        )
    path = Path(data_path)
    records = read_preferences(path)
    fmt = "preference-chat" if records[0].conversational else "preference"
    stats = DataStats(data_path=str(path), format=fmt, num_records=len(records))
    kept = _Kept()
    for rec in records:
        where = f"{path}:{rec.line}"
        try:
            prompt_ids, chosen_ids, rejected_ids = tokenize_pair(rec, tokenizer)
        except DataFormatError as exc:
            raise DataFormatError(f"{where}: {exc}") from None
        if not chosen_ids or not rejected_ids:
            raise DataFormatError(f"{where}: `chosen` or `rejected` has no token after the prompt")
        pair = []
        too_long = False
        for response in (chosen_ids, rejected_ids):
            ids = np.asarray(prompt_ids + response, dtype=np.int64)
            labels = ids.copy()
            labels[: len(prompt_ids)] = IGNORE_INDEX
            if ids.size > max_seq_len:
                too_long = True
                ids, labels = ids[:max_seq_len], labels[:max_seq_len]
            pair.append((ids, labels))
        if too_long:
            if overlong_policy == "error":
                raise DataFormatError(
                    f"{where}: a response row has more than max_seq_len={max_seq_len} tokens "
                    "(overlong_policy=error; use truncate or drop, or raise max_seq_len)"
                )
            if overlong_policy == "drop" or len(prompt_ids) >= max_seq_len:
                stats.num_dropped += 1
                if len(stats.dropped_lines) < 20:
                    stats.dropped_lines.append(rec.line)
                continue
            stats.num_truncated += 1
            if len(stats.truncated_lines) < 20:
                stats.truncated_lines.append(rec.line)
        kept.rows.extend(pair)
        kept.lines.append(rec.line)
        if rec.ref_logps is not None:
            kept.refs.append(rec.ref_logps)
    if not kept.lines:
        raise DataFormatError(f"{path}: no pair is left after applying overlong_policy={overlong_policy}")
    row_lines = [line for line in kept.lines for _ in range(2)]
    rows = TokenizedDataset.from_samples(kept.rows, row_lines)
    refs = np.asarray(kept.refs, dtype=np.float64) if kept.refs else None
    dataset = PreferenceDataset(rows, np.asarray(kept.lines), refs)
    stats.count(rows, dataset.lengths, dataset.num_targets)
    return dataset, stats
