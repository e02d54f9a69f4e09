"""Token ids and each token's character start, from the Rust encoder, in batches.

The general path asks the encoder for offsets. For byte-level BPE tokenizers (no normalizer, ByteLevel
pre-tokenizer) a shortcut applies: the character start of every token of ASCII text follows from the byte
lengths of the token ids, so the encoder runs without computing offsets (:class:`ByteLevelStarts`). The
caller checks the rule against the real offsets on the first batch it encodes with a tokenizer; any
disagreement switches back to offsets, for good. The tables and the verdict of that check are derived from
the tokenizer's serialized form alone, so they are kept per serialized form (a few, in this process) and a
second file prepared with the same tokenizer (eval data, a later run) reuses them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from itertools import chain
from operator import attrgetter
from typing import Any

import numpy as np

from training_hub.errors import InvalidInputError

# What a ByteLevel post-processor trims from offsets: the byte-level space and Rust's `char::is_whitespace`.
_TRIMMED = frozenset("\u0120\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)


#: Serialized tokenizers whose byte-level tables are kept (the most recently built ones).
_KEPT_TABLES = 4
_ids = attrgetter("ids")


@dataclass
class _Tables:
    """What the shortcut needs of one serialized tokenizer, and whether the caller's check has judged it.

    Attributes:
        length: Bytes of each token id.
        lead: Leading characters a trimming post-processor moves a token's start past, per token id.
        keep_first: A text's first token keeps a single leading space (``add_prefix_space``).
        checked: The shortcut was compared with the real offsets of this tokenizer and agreed.
        refused: ... and disagreed: the shortcut is not used for this tokenizer again.
    """

    length: np.ndarray
    lead: np.ndarray
    keep_first: bool
    checked: bool = False
    refused: bool = False


#: SHA-256 of a serialized tokenizer (a real one is megabytes: not kept as a key) -> its tables (None: not
#: a byte-level BPE tokenizer).
_TABLES: dict[bytes, _Tables | None] = {}


@dataclass(frozen=True)
class SerializedTokenizer:
    """A fast tokenizer's serialized form (``tokenizer.json``, ``to_str()``) and its SHA-256, read once by
    a caller that needs both (the data cache's key and the byte-level tables' key).

    Attributes:
        text: The serialized form (a real tokenizer's is megabytes).
        digest: Its SHA-256.
    """

    text: str
    digest: bytes

    @classmethod
    def of(cls, tokenizer: Any) -> SerializedTokenizer | None:
        """The serialized form of a fast tokenizer; None for a tokenizer without one."""
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            return None
        text = str(backend.to_str())
        return cls(text, hashlib.sha256(text.encode()).digest())


def encode_texts(tokenizer: Any, texts: list[str]) -> list[Any]:
    """The Rust encoder's encodings of `texts` (with offsets), no special tokens added.

    Raises:
        InvalidInputError: If the tokenizer is not a fast (Rust) one.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise InvalidInputError("a fast (Rust) tokenizer is required: the tokenizer has no tokenizer.json")
    return list(backend.encode_batch(texts, add_special_tokens=False))


class ByteLevelStarts:
    """Character starts of tokens of ASCII text under a byte-level BPE tokenizer, without offsets.

    Every token id stands for a fixed byte string, so a token's start is the sum of the byte lengths of
    the tokens before it (one byte per character in ASCII text). A ByteLevel post-processor with
    `trim_offsets` moves a start past the token's leading spaces (but keeps a single one on a text's first
    token with `add_prefix_space`); that is reproduced per token id.
    """

    def __init__(self, backend: Any, tables: _Tables | None = None) -> None:
        self.backend = backend
        self.tables = tables if tables is not None else _Tables(*self._tables(backend, backend.to_str()))
        self.length, self.lead, self.keep_first = self.tables.length, self.tables.lead, self.tables.keep_first
        #: Some token's start moves past leading spaces (a trimming post-processor).
        self.trims = bool(self.lead.any())

    @property
    def checked(self) -> bool:
        """The shortcut has been compared with this tokenizer's real offsets (in this process) and agreed."""
        return self.tables.checked

    def judged(self, agrees: bool) -> None:
        """Record the verdict of the caller's comparison with the real offsets (kept with the tables)."""
        self.tables.checked = agrees
        self.tables.refused = not agrees

    @staticmethod
    def _tables(backend: Any, serialized: str) -> tuple[np.ndarray, np.ndarray, bool]:
        spec = json.loads(serialized)
        pre = spec.get("pre_tokenizer") or {}
        pres = pre.get("pretokenizers", [pre]) if pre.get("type") == "Sequence" else [pre]
        if spec.get("normalizer") is not None or (spec.get("model") or {}).get("type") != "BPE":
            raise ValueError("not a byte-level BPE tokenizer")
        if not any(p.get("type") == "ByteLevel" for p in pres):
            raise ValueError("no ByteLevel pre-tokenizer")
        post = spec.get("post_processor") or {}
        posts = post.get("processors", [post]) if post.get("type") == "Sequence" else [post]
        trim = keep_first = False
        for proc in posts:
            if proc.get("type") == "ByteLevel" and proc.get("trim_offsets", True):
                trim = True
                keep_first = bool(proc.get("add_prefix_space", True))
        vocab: dict[str, int] = backend.get_vocab(with_added_tokens=True)
        added = {tid: tok.content for tid, tok in backend.get_added_tokens_decoder().items()}
        size = max([*vocab.values(), *added.keys(), -1]) + 1
        length = np.zeros(size, dtype=np.int64)
        lead = np.zeros(size, dtype=np.int64)
        for token, tid in vocab.items():
            text = added.get(tid, token)
            # A vocabulary token holds one character per byte; an added token is its own text.
            length[tid] = len(text.encode("utf-8")) if tid in added else len(token)
            if trim:
                lead[tid] = next((i for i, c in enumerate(token) if c not in _TRIMMED), len(token))
        if trim:
            lead = np.minimum(lead, length)
        return length, lead, keep_first

    def encode_flat(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Token ids and starts of every text laid end to end, and each text's token count.

        Starts are positions in the texts laid end to end (a token of the second text starts after the
        first text's characters). None if a text is not ASCII or its tokens' bytes do not add up to it.
        """
        if not all(map(str.isascii, texts)):
            return None
        encs = self.backend.encode_batch_fast(texts, add_special_tokens=False)
        # The ids as Python lists (what tokenizers gives), their lengths from the lists (not the encodings).
        lists = list(map(_ids, encs))
        del encs
        counts = np.fromiter(map(len, lists), dtype=np.int64, count=len(lists))
        flat = np.fromiter(chain.from_iterable(lists), dtype=np.int32, count=int(counts.sum()))
        del lists
        if flat.size and int(flat.max()) >= self.length.size:
            return None
        # Every token's start: the bytes of the tokens before it (one byte per ASCII character).
        csum = np.zeros(flat.size + 1, dtype=np.int64)
        np.cumsum(self.length[flat], out=csum[1:])
        bounds = np.zeros(counts.size + 1, dtype=np.int64)
        np.cumsum(counts, out=bounds[1:])
        # Per text, its tokens' byte lengths must add up to the text's length (then every text's first
        # token starts where the text does).
        ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
        if not np.array_equal(csum[bounds[1:]], ends):
            return None
        starts = csum[:-1]
        if self.trims:
            lead = self.lead[flat]
            if self.keep_first and flat.size:
                # With `add_prefix_space`, a text's first token keeps a single leading space.
                firsts = bounds[:-1][counts > 0]
                lead[firsts] = np.where(lead[firsts] == 1, 0, lead[firsts])
            starts = starts + lead
        return flat, starts, counts

    def encode(self, texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """Token ids and token starts of every text (each relative to its text's beginning); None if a text
        is not ASCII or does not add up."""
        got = self.encode_flat(texts)
        if got is None:
            return None
        flat, starts, counts = got
        starts = starts - np.repeat(text_starts(texts), counts)
        return split_flat(flat, counts), split_flat(starts, counts)


def text_starts(texts: list[str]) -> np.ndarray:
    """Where each text starts when the texts are laid end to end."""
    starts = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        np.cumsum(np.fromiter(map(len, texts[:-1]), dtype=np.int64, count=len(texts) - 1), out=starts[1:])
    return starts


def split_flat(flat: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """``flat`` cut into consecutive pieces of ``counts`` elements (views, no copies)."""
    ends = np.cumsum(counts).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def flat_ids_and_starts(
    tokenizer: Any, texts: list[str], fast: ByteLevelStarts | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Token ids and starts of every text end to end, the token counts, and whether the shortcut ran.

    Starts are positions in the texts laid end to end (as :meth:`ByteLevelStarts.encode_flat` gives
    them). With the byte-level shortcut, a batch of ASCII texts is encoded without offsets (one flat result, no
    per-text arrays); any other batch goes through :func:`ids_and_starts`.
    """
    if fast is not None and texts and all(map(str.isascii, texts)):
        got = fast.encode_flat(texts)
        if got is not None:
            return got[0], got[1], got[2], True
    ids, starts, used = ids_and_starts(tokenizer, texts, fast)
    counts = np.fromiter((x.size for x in ids), dtype=np.int64, count=len(ids))
    if not ids:
        return np.zeros(0, np.int32), np.zeros(0, np.int64), counts, used
    return (
        np.concatenate(ids).astype(np.int32, copy=False),
        np.concatenate(starts).astype(np.int64, copy=False) + np.repeat(text_starts(texts), counts),
        counts,
        used,
    )


def ids_and_starts(
    tokenizer: Any, texts: list[str], fast: ByteLevelStarts | None
) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
    """Token ids and token character starts; the flag says whether the byte-level shortcut was used.

    With the shortcut, ASCII texts are encoded without offsets and the others with offsets.
    """
    if fast is not None:
        ascii_idx = [i for i, t in enumerate(texts) if t.isascii()]
        if ascii_idx:
            got = fast.encode([texts[i] for i in ascii_idx])
            if got is not None:
                if len(ascii_idx) == len(texts):
                    return got[0], got[1], True
                ids: list[np.ndarray] = [np.zeros(0, dtype=np.int32)] * len(texts)
                starts: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * len(texts)
                for i, a, b in zip(ascii_idx, got[0], got[1], strict=True):
                    ids[i], starts[i] = a, b
                rest = sorted(set(range(len(texts))) - set(ascii_idx))
                r_ids, r_starts, _ = ids_and_starts(tokenizer, [texts[i] for i in rest], None)
                for i, a, b in zip(rest, r_ids, r_starts, strict=True):
                    ids[i], starts[i] = a, b
                return ids, starts, True
    ids = []
    starts = []
    for enc in encode_texts(tokenizer, texts) if texts else []:
        ids.append(np.asarray(enc.ids, dtype=np.int32))
        starts.append(np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)[:, 0])
    return ids, starts, False


def byte_level_starts(
    tokenizer: Any, serialized: SerializedTokenizer | None = None
) -> ByteLevelStarts | None:
    """The byte-level shortcut for this tokenizer, or None where it does not apply (or was refused).

    The tables come from the tokenizer's serialized form (``to_str()``; ``serialized`` where the caller
    has read it already) and are kept per serialized form, so a tokenizer changed since (a post-processor,
    added tokens) gets tables of its own.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast"):
        return None
    if serialized is None:
        serialized = SerializedTokenizer.of(tokenizer)
        assert serialized is not None  # it has a backend
    key = serialized.digest
    if key in _TABLES:
        tables = _TABLES[key]
    else:
        try:
            tables = _Tables(*ByteLevelStarts._tables(backend, serialized.text))
        except (ValueError, KeyError, TypeError, AttributeError):
            tables = None
        while len(_TABLES) >= _KEPT_TABLES:
            _TABLES.pop(next(iter(_TABLES)), None)
        _TABLES[key] = tables
    if tables is None or tables.refused:
        return None
    return ByteLevelStarts(backend, tables)
