"""The tokenised dataset: flat numpy arrays, an on-disk cache, and the statistics of preparation."""

from __future__ import annotations

import functools
import gc
import hashlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import numpy as np

from training_hub.data.byte_level import SerializedTokenizer
from training_hub.data.formats import Record, read_records
from training_hub.data.labels import IGNORE_INDEX
from training_hub.data.tokenize import tokenize_chat_flat, tokenize_documents
from training_hub.errors import DataFormatError, InvalidInputError

log = logging.getLogger("training_hub.data")

#: Bumped whenever the tokenisation or the cache's file format changes, so stale caches are not reused
#: (2: one raw file, :meth:`TokenizedDataset.save`, instead of an ``.npz``).
CACHE_VERSION = 2
#: The first bytes of a cache file (its format's version in the last byte).
CACHE_MAGIC = b"THTOKDS\x02"
_MAX_LISTED = 20
_LINE = attrgetter("line")


@dataclass
class DataStats:
    """What data preparation did; also written next to the cache as JSON.

    Attributes:
        data_path: The source file.
        format: The (detected) format.
        num_records: Samples (lines) in the file.
        num_samples: Training samples after the overlong policy (documents: number of chunks).
        num_truncated: Samples cut to `max_seq_len` (`overlong_policy=truncate`).
        num_dropped: Samples left out (`overlong_policy=drop`).
        num_without_trained_tokens: Samples kept although no token of theirs is trained.
        num_tokens: Tokens in all samples.
        num_trained_tokens: Tokens with a label.
        max_len: Longest sample in tokens.
        min_len: Shortest sample in tokens.
        truncated_lines: First line numbers of truncated samples (at most 20 listed).
        dropped_lines: Line numbers of dropped samples (at most 20 listed).
        cache_path: Where the tokenised data is stored.
        from_cache: True if the cache was reused.
    """

    data_path: str = ""
    format: str = ""
    num_records: int = 0
    num_samples: int = 0
    num_truncated: int = 0
    num_dropped: int = 0
    num_without_trained_tokens: int = 0
    num_tokens: int = 0
    num_trained_tokens: int = 0
    max_len: int = 0
    min_len: int = 0
    truncated_lines: list[int] = field(default_factory=list)
    dropped_lines: list[int] = field(default_factory=list)
    cache_path: str = ""
    from_cache: bool = False

    def count(self, rows: TokenizedDataset, lengths: np.ndarray, num_targets: np.ndarray) -> None:
        """Set the sample and token counts from the prepared `rows` and the lengths and trained targets of
        the samples (a sample may be more than one row: a preference pair is two)."""
        self.num_samples = len(lengths)
        self.num_tokens = int(rows.lengths.sum())
        self.num_trained_tokens = int(np.count_nonzero(rows.labels != IGNORE_INDEX))
        self.num_without_trained_tokens = int((num_targets <= 0).sum())
        self.max_len = int(lengths.max())
        self.min_len = int(lengths.min())

    def summary(self) -> str:
        """One readable log line."""
        return (
            f"data: {self.num_records} {self.format} records -> {self.num_samples} samples, "
            f"{self.num_tokens} tokens ({self.num_trained_tokens} trained), lengths {self.min_len}..{self.max_len}; "
            f"truncated {self.num_truncated}, dropped {self.num_dropped}"
            + (f" (lines {self.dropped_lines})" if self.dropped_lines else "")
            + (
                f"; {self.num_without_trained_tokens} samples have no trained token"
                if self.num_without_trained_tokens
                else ""
            )
            + (" [cached]" if self.from_cache else "")
        )


class TokenizedDataset:
    """Samples stored as flat arrays: `input_ids`, `labels` (-100 = not trained) and `offsets`.

    Sample ``i`` is ``input_ids[offsets[i]:offsets[i + 1]]``.
    """

    def __init__(self, input_ids: np.ndarray, labels: np.ndarray, offsets: np.ndarray, lines: np.ndarray):
        self.input_ids = input_ids
        self.labels = labels
        self.offsets = offsets
        self.lines = lines
        self.lengths = offsets[1:] - offsets[:-1]
        # Number of trained targets per sample after the causal shift (label at position t+1 is
        # predicted from position t, so a label on the first token is never a target).
        trained = labels != IGNORE_INDEX
        csum = np.zeros(trained.size + 1, dtype=np.int64)
        np.cumsum(trained, out=csum[1:])
        firsts = trained[offsets[:-1]] if len(offsets) > 1 and trained.size else np.zeros(0, dtype=bool)
        self.num_targets = (csum[offsets[1:]] - csum[offsets[:-1]]) - firsts

    @classmethod
    def from_samples(
        cls, samples: Sequence[tuple[np.ndarray, np.ndarray]], lines: Sequence[int]
    ) -> TokenizedDataset:
        """Build from `(input_ids, labels)` pairs and their source lines."""
        lengths = np.asarray([len(s[0]) for s in samples], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = np.concatenate([s[0] for s in samples]).astype(np.int32) if samples else np.zeros(0, np.int32)
        labels = (
            np.concatenate([s[1] for s in samples]).astype(np.int32) if samples else np.zeros(0, np.int32)
        )
        return cls(ids, labels, offsets, np.asarray(lines, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sample(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """The `(input_ids, labels)` of sample `i`."""
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.input_ids[a:b], self.labels[a:b]

    def save(self, path: str | Path) -> None:
        """Write to one file atomically: :data:`CACHE_MAGIC`, the four arrays' lengths (int64) and the
        arrays' bytes (``input_ids``, ``labels`` int32; ``offsets``, ``lines`` int64; little-endian)."""
        target = os.fspath(path)
        head, name = os.path.split(target)
        tmp = os.path.join(head, f".{name}.{os.getpid()}.tmp")
        arrays = (
            self.input_ids.astype("<i4", copy=False),
            self.labels.astype("<i4", copy=False),
            self.offsets.astype("<i8", copy=False),
            self.lines.astype("<i8", copy=False),
        )
        with open(tmp, "wb") as fh:
            fh.write(CACHE_MAGIC)
            fh.write(np.asarray([a.size for a in arrays], dtype="<i8").tobytes())
            for a in arrays:
                fh.write(a.data if a.flags.c_contiguous else a.tobytes())
        os.replace(tmp, target)

    @classmethod
    def load(cls, path: str | Path) -> TokenizedDataset:
        """Read a file written by :meth:`save`.

        Raises:
            DataFormatError: If the file is not one (another format, another version, cut short).
        """
        with Path(path).open("rb") as fh:
            if fh.read(len(CACHE_MAGIC)) != CACHE_MAGIC:
                raise DataFormatError(f"{path}: not a tokenized-data file of this version")
            sizes = np.fromfile(fh, dtype="<i8", count=4)
            arrays = [
                np.fromfile(fh, dtype=dtype, count=int(n)) if n else np.zeros(0, dtype)
                for dtype, n in zip(("<i4", "<i4", "<i8", "<i8"), sizes.tolist(), strict=True)
            ]
        if sizes.size != 4 or [a.size for a in arrays] != sizes.tolist():
            raise DataFormatError(f"{path}: the tokenized-data file is cut short")
        ids, labels, offsets, lines = arrays
        return cls(ids, labels, offsets.astype(np.int64), lines.astype(np.int64))


#: Files up to this size are read once for both the cache key's digest and the parse; a larger one is
#: digested in blocks (a cache hit then never holds it in memory).
_READ_ONCE_BYTES = 256 << 20


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _tokenizer_fingerprint(tokenizer: Any, serialized: SerializedTokenizer | None) -> str:
    parts = [serialized.digest.hex() if serialized is not None else repr(tokenizer)]
    parts.append(str(getattr(tokenizer, "chat_template", "")))
    parts.append(str(getattr(tokenizer, "eos_token_id", "")))
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def resolve_format(fmt: str, is_pretraining: bool, data_path: str) -> None:
    """Check that `is_pretraining` agrees with the (detected) format.

    Raises:
        InvalidInputError: If pretraining is asked for on chat or alpaca data.
    """
    if is_pretraining and fmt != "document":
        raise InvalidInputError(
            f"is_pretraining=True needs `document` data, but {data_path} holds `{fmt}` samples"
        )


def _fit(
    ids: np.ndarray,
    labels: np.ndarray,
    counts: np.ndarray,
    records: list[Record],
    max_seq_len: int,
    overlong_policy: str,
    stats: DataStats,
    where: Callable[[Record], str],
) -> TokenizedDataset:
    """The samples (flat, `counts` tokens each) after the overlong policy, noted in `stats`.

    Raises:
        DataFormatError: With `overlong_policy=error`, naming the first sample longer than `max_seq_len`.
    """
    lines = np.fromiter(map(_LINE, records), np.int64, len(records))
    over = np.flatnonzero(counts > max_seq_len)
    if not over.size:
        return TokenizedDataset(ids, labels, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64), lines)
    first = records[int(over[0])]
    if overlong_policy == "error":
        raise DataFormatError(
            f"{where(first)}: sample has {int(counts[over[0]])} tokens, more than max_seq_len={max_seq_len} "
            "(overlong_policy=error; use truncate or drop, or raise max_seq_len)"
        )
    listed = lines[over[:_MAX_LISTED]].tolist()
    keep = np.ones(counts.shape, dtype=bool)
    if overlong_policy == "drop":
        stats.num_dropped, stats.dropped_lines = int(over.size), listed
        keep[over] = False
    else:
        stats.num_truncated, stats.truncated_lines = int(over.size), listed
    # Each token's position in its sample: kept if the sample is and the position is below max_seq_len.
    position = np.arange(ids.size) - np.repeat(np.cumsum(counts) - counts, counts)
    tokens = (position < max_seq_len) & np.repeat(keep, counts)
    kept = np.minimum(counts, max_seq_len)[keep]
    offsets = np.concatenate([[0], np.cumsum(kept)]).astype(np.int64)
    return TokenizedDataset(ids[tokens], labels[tokens], offsets, lines[keep])


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _cyclic_gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """`fn` with Python's cyclic garbage collector paused while it runs (its state restored after).

    Preparing a file makes several objects per sample (the parsed lines, records, texts) that are
    acyclic and freed by reference counting. With the collector on, they push the process's allocation
    counts over its thresholds: the collections find nothing, and now and then one is a full collection
    of every object of a process that has imported transformers (0.07-0.11 s, measured on the benchmark's
    4000 samples: more than the 250-sample chunks' whole call), and the survivors it promotes make the
    next one come sooner.
    """

    @functools.wraps(fn)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused


@_cyclic_gc_paused
def prepare_dataset(
    data_path: str | Path,
    tokenizer: Any,
    *,
    max_seq_len: int,
    data_format: str = "auto",
    overlong_policy: str = "truncate",
    unmask_roles: Sequence[str] | None = None,
    is_pretraining: bool = False,
    block_size: int | None = None,
    output_dir: str | Path | None = None,
    keys: dict[str, str] | None = None,
    alpaca_as_text: bool = False,
    messages_as_text: bool = False,
) -> tuple[TokenizedDataset, DataStats]:
    """Validate, tokenise and (if `output_dir` is set) cache a JSONL training file.

    The whole file is validated before tokenisation starts. The cache is keyed by the file's content,
    the tokenizer and every option here, and reused when nothing changed.

    Args:
        data_path: JSONL file.
        tokenizer: A transformers fast tokenizer (with a chat template for chat data).
        max_seq_len: Longest sample; longer ones follow `overlong_policy`.
        data_format: `auto`, `messages`, `document` or `alpaca`.
        overlong_policy: `truncate` (keep the first `max_seq_len` tokens), `drop` or `error`.
        unmask_roles: Roles to train on for chat data (default assistant).
        is_pretraining: Require `document` data.
        block_size: Chunk length of document data (default `max_seq_len`).
        output_dir: Directory for the cache (`tokenized-<key>.bin` and `.json`).
        keys: The file's key names where they differ from the defaults (see `formats.DEFAULT_KEYS`).
        alpaca_as_text: Train alpaca samples as one text, every token (upstream's LoRA), not as chat.
        messages_as_text: Train chat samples as the whole text their chat template renders, every token
            (upstream's LoRA), not the assistant turns only.

    Returns:
        The dataset and its statistics.

    Raises:
        InvalidInputError: On inconsistent options.
        DataFormatError: On malformed data, naming file and line.
    """
    path = Path(data_path)
    if overlong_policy not in ("truncate", "drop", "error"):
        raise InvalidInputError(
            f"unknown overlong_policy {overlong_policy!r}; choose truncate, drop or error"
        )
    if block_size is not None and block_size > max_seq_len:
        raise InvalidInputError(f"block_size ({block_size}) must not exceed max_seq_len ({max_seq_len})")
    cache_file: str | None = None
    serialized = None
    content: bytes | None = None
    # The cache is looked up before the file is read: a hit costs the file's digest, not its parse and
    # validation. The key holds the content and every option (the format asked for, not the one detected:
    # the same content and options detect the same one); a call whose data or options are refused raises
    # below and writes no cache, so no hit can stand for a refused call.
    if output_dir is not None and path.is_file():
        serialized = SerializedTokenizer.of(tokenizer)
        if path.stat().st_size <= _READ_ONCE_BYTES:
            # Read once: the digest and (on a miss) the parse take the same bytes.
            content = path.read_bytes()
            digest = hashlib.sha256(content).hexdigest()
        else:
            digest = _file_digest(path)
        key_src = json.dumps(
            {
                "v": CACHE_VERSION,
                "data": digest,
                "tok": _tokenizer_fingerprint(tokenizer, serialized),
                "fmt": data_format,
                "is_pretraining": is_pretraining,
                "max_seq_len": max_seq_len,
                "overlong": overlong_policy,
                "unmask_roles": sorted(unmask_roles or []),
                "block_size": block_size,
                "keys": keys or {},
                "alpaca_as_text": alpaca_as_text,
                "messages_as_text": messages_as_text,
            },
            sort_keys=True,
        )
        key = hashlib.sha256(key_src.encode()).hexdigest()[:16]
        # Paths as strings (os.path): pathlib's objects cost more than the few file operations here.
        out = os.fspath(output_dir)
        cache_file = os.path.join(out, f"tokenized-{key}.bin")
        cache_json = os.path.join(out, f"tokenized-{key}.json")
        if os.path.isfile(cache_file) and os.path.isfile(cache_json):
            try:
                cached = TokenizedDataset.load(cache_file)
            except DataFormatError as exc:  # not written by this version: prepared again, overwritten
                log.warning("data: %s; preparing the data again", exc)
            else:
                stats = DataStats(**json.loads(Path(cache_json).read_text()))
                stats.from_cache = True
                return cached, stats

    fmt, records = read_records(path, data_format, keys, alpaca_as_text, content=content)
    resolve_format(fmt, is_pretraining, str(path))
    if fmt == "document" and unmask_roles:
        raise InvalidInputError("unmask_roles applies to `messages`/`alpaca` data, not `document` data")
    if fmt != "document" and block_size is not None:
        raise InvalidInputError(f"block_size applies to `document` data, not `{fmt}` data")
    if messages_as_text and unmask_roles:
        raise InvalidInputError("messages_as_text trains every token: unmask_roles does not apply")
    if unmask_roles:
        from training_hub.data.formats import ROLES

        unknown = sorted(set(unmask_roles) - ROLES)
        if unknown:
            raise InvalidInputError(f"unknown role(s) in unmask_roles: {unknown} (allowed: {sorted(ROLES)})")

    stats = DataStats(data_path=str(path), format=fmt, num_records=len(records))

    def where(rec: Record) -> str:
        return f"{path}:{rec.line}"

    if fmt == "document":
        samples, lines = tokenize_documents(records, tokenizer, block_size or max_seq_len)
        dataset = TokenizedDataset.from_samples(samples, lines)
    else:
        if messages_as_text and records[0].text is None:
            from training_hub.data.texts import render_conversations

            records = render_conversations(records, tokenizer)
        if records[0].text is not None:
            from training_hub.data.texts import tokenize_texts

            flat = TokenizedDataset.from_samples(tokenize_texts(records, tokenizer), [])
            ids, labels, counts = flat.input_ids, flat.labels, flat.lengths
        else:
            ids, labels, counts = tokenize_chat_flat(
                records, tokenizer, unmask_roles, where, serialized=serialized
            )
        dataset = _fit(ids, labels, counts, records, max_seq_len, overlong_policy, stats, where)
    if not len(dataset):
        raise DataFormatError(f"{path}: no sample is left after applying overlong_policy={overlong_policy}")
    stats.count(dataset, dataset.lengths, dataset.num_targets)
    if cache_file is not None:
        stats.cache_path = cache_file
        os.makedirs(os.path.dirname(cache_file), exist_ok=True)
        dataset.save(cache_file)
        tmp = f"{cache_json[:-5]}.{os.getpid()}.json.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(vars(stats)))  # no indent: the C encoder (indented JSON is Python's)
        os.replace(tmp, cache_json)
    return dataset, stats
