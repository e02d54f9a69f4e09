"""Tokenisation with exact label masking by character spans.

A chat sample is rendered with the tokenizer's own chat template. The character span of message ``i`` is
found by rendering the message prefixes ``messages[:i]`` and ``messages[:i+1]`` (chat templates extend their
output message by message); for an assistant message the span starts after the generation prompt
(``render(messages[:i], add_generation_prompt=True)``), so the role header is never trained. The whole text
is tokenised once (in batches, in Rust) with offsets, and a token is trained iff its first character lies
in a trained span. No per-token Python loop is involved.

Two exact shortcuts make this fast (each falls back to the general path above when it does not apply):

* **Skeletons.** For templates that use a message's content only as output (never in a condition or an
  assignment, checked once on the template's syntax tree), the prefix renders are done once per role
  sequence on placeholder contents; the result (literal pieces between the contents, and the trained spans
  relative to them) is cached. A sample then costs one render, and its text must equal the skeleton with
  the real contents substituted, else the sample takes the general path.
* **Byte-level starts.** For byte-level BPE tokenizers (no normalizer, ByteLevel pre-tokenizer), the
  character start of every token of ASCII text follows from the byte lengths of the token ids, so the
  Rust encoder runs without computing offsets. The rule is checked against the real offsets on the first
  batch of every call; any disagreement switches back to offsets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain
from typing import Any

import numpy as np

from training_hub.data.formats import Record
from training_hub.errors import DataFormatError, InvalidInputError

IGNORE_INDEX = -100
_BATCH = 512
# Placeholder contents of skeletons (private-use characters; samples containing them take the general path).
_PH_OPEN, _PH_CLOSE = "\ue000", "\ue001"
_PH_RE = re.compile(f"{_PH_OPEN}(\\d+){_PH_CLOSE}")
_MAX_SKELETONS = 4096
# What a ByteLevel post-processor trims from offsets: the byte-level space and Rust's `char::is_whitespace`.
_TRIMMED = frozenset("\u0120\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | frozenset(
    chr(c) for c in range(0x2000, 0x200B)
)
# Texts of the first batch on which the byte-level shortcut is checked against real offsets.
_CHECKED_TEXTS = 64


@dataclass(frozen=True)
class _Skeleton:
    """A role sequence's rendering with the contents left out.

    Attributes:
        pieces: Literal text between the contents (one more than `order`).
        order: Which message's content follows `pieces[k]`.
        spans: Trained spans as `((piece, offset), (piece, offset))`, offsets into the literal pieces.
    """

    pieces: list[str]
    order: list[int]
    spans: list[tuple[tuple[int, int], tuple[int, int]]]


# Jinja nodes through which a message's content may flow and still only be output.
_OUTPUT_CHAIN = ("Add", "Concat", "Output", "Filter")


def _content_only_output(template: str) -> bool:
    """True if the template uses a message's `content` only as output text (never to decide anything).

    Every `x.content` / `x['content']` must sit in an output expression built from `+`, `~` and filters
    on the content itself. Conditions, comparisons, assignments, macros, loops over the content and so on
    make the template ineligible for skeletons (the general path is used).
    """
    try:
        import jinja2
        from jinja2 import nodes
    except ImportError:  # pragma: no cover - transformers depends on jinja2
        return False
    try:
        tree = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"]).parse(template)
    except Exception:
        return False
    parents: dict[int, Any] = {}
    stack: list[Any] = [tree]
    found: list[Any] = []
    while stack:
        node = stack.pop()
        for child in node.iter_child_nodes():
            parents[id(child)] = node
            stack.append(child)
        is_content = (isinstance(node, nodes.Getattr) and node.attr == "content") or (
            isinstance(node, nodes.Getitem)
            and isinstance(node.arg, nodes.Const)
            and node.arg.value == "content"
        )
        if is_content:
            found.append(node)
    for node in found:
        cur = node
        while True:
            parent = parents.get(id(cur))
            if parent is None or type(parent).__name__ not in _OUTPUT_CHAIN:
                return False
            if isinstance(parent, nodes.Filter) and parent.node is not cur:
                return False  # the content is a filter's argument
            if isinstance(parent, nodes.Output):
                break
            cur = parent
    return True


class ChatRenderer:
    """Renders conversations with a tokenizer's chat template (compiled once)."""

    def __init__(self, tokenizer: Any) -> None:
        template = getattr(tokenizer, "chat_template", None)
        if isinstance(template, dict):
            template = template.get("default") or next(iter(template.values()), None)
        if not template:
            raise InvalidInputError(
                "the tokenizer has no chat template: `messages` and `alpaca` data need one "
                "(set `chat_template` in tokenizer_config.json, or use `document` data)"
            )
        self._template = self._compile(template)
        self._skeletons_ok = _content_only_output(template)
        self._skeletons: dict[tuple[tuple[str, ...], frozenset[str]], _Skeleton | None] = {}
        self._kwargs: dict[str, Any] = {}
        for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
            value = getattr(tokenizer, name, None)
            self._kwargs[name] = str(value) if value is not None else ""
        self._empty: str | None = None

    def _render_empty(self) -> str:
        """The rendering of an empty conversation (the same for every sample: computed once)."""
        if self._empty is None:
            try:
                self._empty = self.render([])
            except Exception:  # templates may refuse an empty conversation
                self._empty = ""
        return self._empty

    @staticmethod
    def _compile(template: str) -> Any:
        try:
            from transformers.utils.chat_template_utils import _compile_jinja_template

            return _compile_jinja_template(template)
        except ImportError:  # pragma: no cover - older transformers
            import jinja2
            from jinja2.sandbox import ImmutableSandboxedEnvironment

            def raise_exception(message: str) -> None:
                raise jinja2.exceptions.TemplateError(message)

            env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            env.globals["raise_exception"] = raise_exception
            return env.from_string(template)

    def render(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = False) -> str:
        """Render messages to text (the template's special tokens appear as text)."""
        return str(
            self._template.render(
                messages=list(messages), add_generation_prompt=add_generation_prompt, **self._kwargs
            )
        )

    def text_and_spans(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, list[tuple[int, int]]]:
        """Render a conversation and return the character spans to train on.

        Args:
            messages: The conversation.
            trained_roles: Roles whose messages are trained.

        Returns:
            The full text and the list of trained `(start, end)` character spans.

        Raises:
            InvalidInputError: If the template does not render messages as extending prefixes and a
                message's content cannot be located in the text.
        """
        if self._skeletons_ok:
            fast = self._text_and_spans_by_skeleton(messages, trained_roles)
            if fast is not None:
                return fast
        found = self._prefix_spans(messages, trained_roles)
        if found is not None:
            return found
        return self._spans_by_search(messages, trained_roles)

    def _text_and_spans_by_skeleton(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, list[tuple[int, int]]] | None:
        """One render plus the cached skeleton of this role sequence; None if it does not apply."""
        contents = [m["content"] for m in messages]
        if any(_PH_OPEN in c or _PH_CLOSE in c for c in contents):
            return None
        key = (tuple(m["role"] for m in messages), trained_roles)
        if key not in self._skeletons:
            if len(self._skeletons) >= _MAX_SKELETONS:
                self._skeletons.clear()
            self._skeletons[key] = self._build_skeleton(messages, trained_roles)
        skeleton = self._skeletons[key]
        if skeleton is None:
            return None
        text = self.render(messages)
        pieces, order = skeleton.pieces, skeleton.order
        # Position of the start of literal piece k in the real text.
        starts = [0] * len(pieces)
        pos = 0
        parts: list[str] = []
        for k, piece in enumerate(pieces):
            starts[k] = pos
            parts.append(piece)
            pos += len(piece)
            if k < len(order):
                content = contents[order[k]]
                parts.append(content)
                pos += len(content)
        if "".join(parts) != text:
            return None
        spans = [(starts[ka] + oa, starts[kb] + ob) for (ka, oa), (kb, ob) in skeleton.spans]
        return text, spans

    def _build_skeleton(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> _Skeleton | None:
        placeholders = [
            {"role": m["role"], "content": f"{_PH_OPEN}{i}{_PH_CLOSE}"} for i, m in enumerate(messages)
        ]
        try:
            found = self._prefix_spans(placeholders, trained_roles)
        except Exception:
            return None
        if found is None:
            return None
        text, spans = found
        pieces: list[str] = []
        order: list[int] = []
        # (start, end) of every placeholder in the skeleton text.
        holes: list[tuple[int, int]] = []
        cursor = 0
        for match in _PH_RE.finditer(text):
            pieces.append(text[cursor : match.start()])
            order.append(int(match.group(1)))
            holes.append((match.start(), match.end()))
            cursor = match.end()
        pieces.append(text[cursor:])
        if sorted(order) != list(range(len(messages))) or any(
            _PH_OPEN in x or _PH_CLOSE in x for x in pieces
        ):
            return None

        def locate(p: int) -> tuple[int, int] | None:
            base = 0
            for k, (a, b) in enumerate(holes):
                if p <= a:
                    return k, p - base
                if p < b:
                    return None  # inside a placeholder
                base = b
            return len(holes), p - base

        refs: list[tuple[tuple[int, int], tuple[int, int]]] = []
        for a, b in spans:
            ra, rb = locate(a), locate(b)
            if ra is None or rb is None:
                return None
            refs.append((ra, rb))
        return _Skeleton(pieces=pieces, order=order, spans=refs)

    def _prefix_spans(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, list[tuple[int, int]]] | None:
        """Spans from rendering growing prefixes; None if the template does not render prefixes."""
        prev = self._render_empty()
        spans: list[tuple[int, int]] = []
        prefix_ok = True
        for i, msg in enumerate(messages):
            cur = self.render(messages[: i + 1])
            if not cur.startswith(prev):
                prefix_ok = False
                break
            if msg["role"] in trained_roles:
                start = len(prev)
                if msg["role"] == "assistant":
                    gen = self.render(messages[:i], add_generation_prompt=True)
                    if cur.startswith(gen) and len(gen) >= len(prev):
                        start = len(gen)
                spans.append((start, len(cur)))
            prev = cur
        if prefix_ok:
            return prev, spans
        return None

    def _spans_by_search(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, list[tuple[int, int]]]:
        text = self.render(messages)
        spans: list[tuple[int, int]] = []
        cursor = 0
        for msg in messages:
            idx = text.find(msg["content"], cursor)
            if idx < 0:
                raise InvalidInputError(
                    "cannot locate message content in the chat template's output: this template does not "
                    "support label masking"
                )
            cursor = idx + len(msg["content"])
            if msg["role"] in trained_roles:
                spans.append((idx, cursor))
        return text, spans


def trained_roles_for(record: Record, unmask_roles: Sequence[str] | None) -> frozenset[str]:
    """Roles trained for a sample: all but system with `unmask`, else `unmask_roles`, else assistant."""
    if record.unmask:
        return frozenset({"user", "assistant", "tool"})
    if unmask_roles:
        return frozenset(unmask_roles)
    return frozenset({"assistant"})


def _encode(tokenizer: Any, texts: list[str]) -> list[Any]:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise InvalidInputError("a fast (Rust) tokenizer is required: the tokenizer has no tokenizer.json")
    return list(backend.encode_batch(texts, add_special_tokens=False))


class _ByteLevelStarts:
    """Character starts of tokens of ASCII text under a byte-level BPE tokenizer, without offsets.

    Every token id stands for a fixed byte string, so a token's start is the sum of the byte lengths of
    the tokens before it (one byte per character in ASCII text). A ByteLevel post-processor with
    `trim_offsets` moves a start past the token's leading spaces (but keeps a single one on a text's first
    token with `add_prefix_space`); that is reproduced per token id.
    """

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.length, self.lead, self.keep_first = self._tables(backend)

    @staticmethod
    def _tables(backend: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        spec = json.loads(backend.to_str())
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

        Starts are relative to each text's own beginning. None if a text is not ASCII or its tokens'
        bytes do not add up to it.
        """
        if not all(t.isascii() for t in texts):
            return None
        encs = self.backend.encode_batch_fast(texts, add_special_tokens=False)
        id_lists = [e.ids for e in encs]
        counts = np.fromiter((len(x) for x in id_lists), dtype=np.int64, count=len(id_lists))
        flat = np.fromiter(chain.from_iterable(id_lists), dtype=np.int32, count=int(counts.sum()))
        if flat.size and int(flat.max()) >= self.length.size:
            return None
        lengths = self.length[flat]
        csum = np.concatenate([[0], np.cumsum(lengths)])
        bounds = np.concatenate([[0], np.cumsum(counts)])
        bases = csum[bounds[:-1]]
        # Per text, its tokens' byte lengths must add up to the text's length.
        sizes = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
        if not np.array_equal(csum[bounds[1:]] - bases, sizes):
            return None
        lead = self.lead[flat]
        if self.keep_first and flat.size:
            # With `add_prefix_space`, a text's first token keeps a single leading space.
            firsts = bounds[:-1][counts > 0]
            lead[firsts] = np.where(lead[firsts] == 1, 0, lead[firsts])
        starts = csum[:-1] + lead - np.repeat(bases, counts)
        return flat, starts, counts

    def encode(self, texts: list[str]) -> tuple[list[np.ndarray], list[np.ndarray]] | None:
        """Token ids and token starts of every text; None if a text is not ASCII or does not add up."""
        got = self.encode_flat(texts)
        if got is None:
            return None
        flat, starts, counts = got
        return _split(flat, counts), _split(starts, counts)


def _split(flat: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """``flat`` cut into consecutive pieces of ``counts`` elements (views, no copies)."""
    ends = np.cumsum(counts).tolist()
    return [flat[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]


def _flat_ids_and_starts(
    tokenizer: Any, texts: list[str], fast: _ByteLevelStarts | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """Token ids and starts of every text end to end, the token counts, and whether the shortcut ran.

    With the byte-level shortcut, a batch of ASCII texts is encoded without offsets (one flat result, no
    per-text arrays); any other batch goes through :func:`_ids_and_starts`.
    """
    if fast is not None and texts and all(t.isascii() for t in texts):
        got = fast.encode_flat(texts)
        if got is not None:
            return got[0], got[1], got[2], True
    ids, starts, used = _ids_and_starts(tokenizer, texts, fast)
    counts = np.fromiter((x.size for x in ids), dtype=np.int64, count=len(ids))
    if not ids:
        return np.zeros(0, np.int32), np.zeros(0, np.int64), counts, used
    return (
        np.concatenate(ids).astype(np.int32, copy=False),
        np.concatenate(starts).astype(np.int64, copy=False),
        counts,
        used,
    )


def _ids_and_starts(
    tokenizer: Any, texts: list[str], fast: _ByteLevelStarts | None
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
                r_ids, r_starts, _ = _ids_and_starts(tokenizer, [texts[i] for i in rest], None)
                for i, a, b in zip(rest, r_ids, r_starts, strict=True):
                    ids[i], starts[i] = a, b
                return ids, starts, True
    ids = []
    starts = []
    for enc in _encode(tokenizer, texts) if texts else []:
        ids.append(np.asarray(enc.ids, dtype=np.int32))
        starts.append(np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)[:, 0])
    return ids, starts, False


def _byte_level_starts(tokenizer: Any) -> _ByteLevelStarts | None:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch_fast"):
        return None
    try:
        return _ByteLevelStarts(backend)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


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


def _label_batch(
    texts: list[str],
    flat_ids: np.ndarray,
    flat_starts: np.ndarray,
    counts: np.ndarray,
    all_spans: list[list[tuple[int, int]]],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Labels of a batch at once: the texts laid end to end, one sorted search over all span bounds.

    Args:
        texts: The batch's texts.
        flat_ids: Every text's token ids, end to end.
        flat_starts: Every token's character start within its own text, end to end.
        counts: Tokens per text.
        all_spans: Every text's trained character spans.
    """
    text_base = np.concatenate([[0], np.cumsum([len(t) for t in texts])]).astype(np.int64)
    bounds = np.fromiter(
        (
            int(base) + x
            for base, spans in zip(text_base, all_spans, strict=False)
            for span in spans
            for x in span
        ),
        dtype=np.int64,
    )
    if bounds.size and np.all(np.diff(bounds) >= 0):
        # Sorted, non-overlapping spans: an odd insertion point means inside a span.
        row_starts = flat_starts + np.repeat(text_base[:-1], counts)
        trained = (np.searchsorted(bounds, row_starts, side="right") % 2).astype(bool)
        labels = np.where(trained, flat_ids, IGNORE_INDEX).astype(np.int32)
        return list(zip(_split(flat_ids, counts), _split(labels, counts), strict=True))
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for ids, starts, spans in zip(
        _split(flat_ids, counts), _split(flat_starts, counts), all_spans, strict=True
    ):
        labels = np.full(ids.shape, IGNORE_INDEX, dtype=np.int32)
        if spans and ids.size:
            mask = _trained_mask(starts, spans)
            labels[mask] = ids[mask]
        out.append((ids, labels))
    return out


def tokenize_chat(
    records: list[Record],
    tokenizer: Any,
    unmask_roles: Sequence[str] | None,
    where: Callable[[Record], str],
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Tokenise chat records into `(input_ids, labels)` arrays with exact masking.

    Args:
        records: Validated `messages`/`alpaca` records.
        tokenizer: A transformers fast tokenizer with a chat template.
        unmask_roles: Roles to train on besides the per-sample `unmask` flag (None: assistant only).
        where: Names a record's `file:line` for error messages.

    Returns:
        One `(input_ids int32, labels int32)` pair per record (labels are -100 where masked).

    Raises:
        DataFormatError: If the template refuses a sample (for example, roles out of order).
    """
    renderer = ChatRenderer(tokenizer)
    fast = _byte_level_starts(tokenizer)
    checked = False
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for lo in range(0, len(records), _BATCH):
        chunk = records[lo : lo + _BATCH]
        texts: list[str] = []
        all_spans: list[list[tuple[int, int]]] = []
        for rec in chunk:
            try:
                text, spans = renderer.text_and_spans(rec.messages, trained_roles_for(rec, unmask_roles))
            except InvalidInputError:
                raise
            except Exception as exc:
                raise DataFormatError(
                    f"{where(rec)}: the chat template rejected this sample: {exc}"
                ) from None
            texts.append(text)
            all_spans.append(spans)
        flat_ids, flat_starts, counts, used_fast = _flat_ids_and_starts(tokenizer, texts, fast)
        if used_fast and not checked:
            # The shortcut must agree with the tokenizer's own offsets (checked once per call).
            n_check = min(len(texts), _CHECKED_TEXTS)
            ref_ids, ref_starts, ref_counts, _ = _flat_ids_and_starts(tokenizer, texts[:n_check], None)
            n_tokens = int(ref_counts.sum())
            same = (
                np.array_equal(counts[:n_check], ref_counts)
                and np.array_equal(flat_ids[:n_tokens], ref_ids)
                and np.array_equal(flat_starts[:n_tokens], ref_starts)
            )
            if not same:
                fast = None
                flat_ids, flat_starts, counts, _ = _flat_ids_and_starts(tokenizer, texts, None)
            checked = True
        out.extend(_label_batch(texts, flat_ids, flat_starts, counts, all_spans))
    return out


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
        for rec, enc in zip(chunk, _encode(tokenizer, [r.document or "" for r in chunk]), strict=True):
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
