"""Tokenisation with exact label masking by character spans.

A chat sample is rendered with the tokenizer's own chat template. The character span of message ``i`` is
found by rendering the message prefixes ``messages[:i]`` and ``messages[:i+1]`` (chat templates extend their
output message by message); for an assistant message the span starts after the generation prompt
(``render(messages[:i], add_generation_prompt=True)``), so the role header is never trained. The whole text
is tokenised once (in batches, in Rust) with offsets, and a token is trained iff its first character lies
in a trained span. No per-token Python loop is involved.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from training_hub.data.formats import Record
from training_hub.errors import DataFormatError, InvalidInputError

IGNORE_INDEX = -100
_BATCH = 512


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
        return self._spans_by_search(messages, trained_roles)

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
        for enc, spans in zip(_encode(tokenizer, texts), all_spans, strict=True):
            ids = np.asarray(enc.ids, dtype=np.int32)
            labels = np.full(ids.shape, IGNORE_INDEX, dtype=np.int32)
            if spans and ids.size:
                starts = np.asarray(enc.offsets, dtype=np.int64).reshape(-1, 2)[:, 0]
                trained = np.zeros(ids.shape, dtype=bool)
                for a, b in spans:
                    trained |= (starts >= a) & (starts < b)
                labels[trained] = ids[trained]
            out.append((ids, labels))
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
