"""Chat samples rendered with the tokenizer's own chat template, with the character spans to train on.

The character span of message ``i`` is found by rendering the message prefixes ``messages[:i]`` and
``messages[:i+1]`` (chat templates extend their output message by message); for an assistant message the
span starts after the generation prompt (``render(messages[:i], add_generation_prompt=True)``), so the
role header is never trained.

**Skeletons** make this fast. For templates that use a message's content only as output (never in a
condition or an assignment, checked once on the template's syntax tree,
:func:`~training_hub.data.chat_template.content_only_output`), the prefix renders are done once per role
sequence on placeholder contents; the result (literal pieces between the contents, and the trained spans
relative to them) is cached. A sample then costs one render, and its text must equal the skeleton with the
real contents substituted, else the sample takes the general path. Where the template also copies the
contents verbatim and sees nothing else of a message
(:func:`~training_hub.data.chat_template.contents_verbatim`), a sample whose messages hold only a role and a
content needs no render at all: its text is the skeleton with the contents put in (the first sample of each
role sequence is still rendered and compared, as a check).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import attrgetter, itemgetter, mod
from typing import Any

import numpy as np

from training_hub.data.chat_template import compile_template, content_only_output, contents_verbatim
from training_hub.data.formats import Record
from training_hub.errors import InvalidInputError

# Placeholder contents of skeletons (private-use characters; samples containing them take the general path).
_PH_OPEN, _PH_CLOSE = "\ue000", "\ue001"
_PH_RE = re.compile(f"{_PH_OPEN}(\\d+){_PH_CLOSE}")
_MAX_SKELETONS = 4096
#: Renderers kept for reuse (:meth:`ChatRenderer.for_tokenizer`), the most recently used ones.
_KEPT_RENDERERS = 8
Spans = list[tuple[int, int]]
_ROLE, _CONTENT = itemgetter("role"), itemgetter("content")
_UNBUILT: Any = object()  # a role sequence whose skeleton has not been built yet
_FORMAT, _BOUND_PIECES, _BOUND_OFFSETS = (
    attrgetter("format"),
    attrgetter("bound_pieces"),
    attrgetter("bound_offsets"),
)


@dataclass(eq=False)
class _Skeleton:
    """A role sequence's rendering with the contents left out.

    Attributes:
        pieces: Literal text between the contents (one more than `order`).
        order: Which message's content follows `pieces[k]`.
        spans: Trained spans as `((piece, offset), (piece, offset))`, offsets into the literal pieces.
        checked: A real rendering has been found equal to this skeleton with its contents put in.
        parts: The pieces with an empty slot between each two, for the contents.
        in_order: The contents follow the pieces in message order.
        bounds: Each span as ``(ka, ca, kb, cb)``: its start is ``ca`` plus the length of the contents
            before piece ``ka``, its end likewise (``ca``: the pieces before ``ka`` and the offset).
        format: The pieces as a ``%``-format with a ``%s`` slot for each content (in message order; only
            used where `in_order`).
        bound_pieces: Every span bound's piece (``ka``, ``kb``, ... in span order), for :meth:`ChatRenderer.fill`.
        bound_offsets: ... and its offset (``ca``, ``cb``, ...).
    """

    pieces: list[str]
    order: list[int]
    spans: list[tuple[tuple[int, int], tuple[int, int]]]
    checked: bool = False
    parts: list[str] = field(init=False)
    in_order: bool = field(init=False)
    bounds: list[tuple[int, int, int, int]] = field(init=False)
    format: str = field(init=False)
    bound_pieces: tuple[int, ...] = field(init=False)
    bound_offsets: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        # The pieces with a slot after each but the last, for the contents.
        self.parts = [""] * (2 * len(self.pieces) - 1)
        self.parts[::2] = self.pieces
        self.in_order = self.order == list(range(len(self.order)))
        before = list(accumulate(map(len, self.pieces), initial=0))
        self.bounds = [(ka, before[ka] + oa, kb, before[kb] + ob) for (ka, oa), (kb, ob) in self.spans]
        self.format = "%s".join(piece.replace("%", "%%") for piece in self.pieces)
        self.bound_pieces = tuple(chain.from_iterable((ka, kb) for ka, _, kb, _ in self.bounds))
        self.bound_offsets = tuple(chain.from_iterable((ca, cb) for _, ca, _, cb in self.bounds))


def trained_roles_for(record: Record, unmask_roles: Sequence[str] | None) -> frozenset[str]:
    """Roles trained for a sample: all but system with `unmask`, else `unmask_roles`, else assistant."""
    if record.unmask:
        return frozenset({"user", "assistant", "tool"})
    if unmask_roles:
        return frozenset(unmask_roles)
    return frozenset({"assistant"})


def _template_and_tokens(tokenizer: Any) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What a rendering depends on: the tokenizer's chat template and its special tokens as text.

    Raises:
        InvalidInputError: If the tokenizer has no chat template.
    """
    template = getattr(tokenizer, "chat_template", None)
    if isinstance(template, dict):
        template = template.get("default") or next(iter(template.values()), None)
    if not template:
        raise InvalidInputError(
            "the tokenizer has no chat template: `messages` and `alpaca` data need one "
            "(set `chat_template` in tokenizer_config.json, or use `document` data)"
        )
    tokens = []
    for name in ("bos_token", "eos_token", "pad_token", "unk_token"):
        value = getattr(tokenizer, name, None)
        tokens.append((name, str(value) if value is not None else ""))
    return str(template), tuple(tokens)


#: (template, special tokens) -> its renderer, with the skeletons it has built and checked.
_RENDERERS: dict[tuple[str, tuple[tuple[str, str], ...]], ChatRenderer] = {}


class ChatRenderer:
    """Renders conversations with a tokenizer's chat template (compiled once)."""

    def __init__(self, tokenizer: Any) -> None:
        template, tokens = _template_and_tokens(tokenizer)
        self._template = compile_template(template)
        self._skeletons_ok = content_only_output(template)
        self._verbatim = self._skeletons_ok and contents_verbatim(template)
        self._skeletons: dict[tuple[tuple[str, ...], frozenset[str]], _Skeleton | None] = {}
        self._kwargs: dict[str, Any] = dict(tokens)
        self._empty: str | None = None

    @classmethod
    def for_tokenizer(cls, tokenizer: Any) -> ChatRenderer:
        """A renderer of this tokenizer's template and special tokens, reused while they are the same.

        A rendering depends on nothing else, so the skeletons built (and checked against a real rendering)
        while preparing one file serve the next file prepared with the same template in this process.

        Raises:
            InvalidInputError: If the tokenizer has no chat template.
        """
        key = _template_and_tokens(tokenizer)
        # Kept most recently used last: a hit moves to the end, the first is the one given up.
        renderer = _RENDERERS.pop(key, None)
        if renderer is None:
            renderer = cls(tokenizer)
            while len(_RENDERERS) >= _KEPT_RENDERERS:
                _RENDERERS.pop(next(iter(_RENDERERS)), None)
        _RENDERERS[key] = renderer
        return renderer

    def _render_empty(self) -> str:
        """The rendering of an empty conversation (the same for every sample: computed once)."""
        if self._empty is None:
            try:
                self._empty = self.render([])
            except Exception:  # templates may refuse an empty conversation
                self._empty = ""
        return self._empty

    def render(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = False) -> str:
        """Render messages to text (the template's special tokens appear as text)."""
        return str(
            self._template.render(
                messages=list(messages), add_generation_prompt=add_generation_prompt, **self._kwargs
            )
        )

    def text_and_spans(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, Spans]:
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
        found = self.prefix_spans(messages, trained_roles)
        if found is not None:
            return found
        return self.spans_by_search(messages, trained_roles)

    def _skeleton(self, messages: list[dict[str, str]], trained_roles: frozenset[str]) -> _Skeleton | None:
        """The cached skeleton of this conversation's role sequence (built on first use)."""
        key = (tuple(map(_ROLE, messages)), trained_roles)
        try:
            return self._skeletons[key]
        except KeyError:
            pass
        if len(self._skeletons) >= _MAX_SKELETONS:
            self._skeletons.clear()
        skeleton = self._skeletons[key] = self._build_skeleton(messages, trained_roles)
        return skeleton

    def _text_and_spans_by_skeleton(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, Spans] | None:
        """:meth:`by_skeletons` of one conversation; None if the skeleton does not apply."""
        texts, spans, misses = self.by_skeletons([messages], [trained_roles])
        return None if misses else (texts[0], spans[0])

    def by_skeletons(
        self, conversations: Sequence[list[dict[str, str]]], trained_roles: Sequence[frozenset[str]]
    ) -> tuple[list[str], list[Spans], list[int]]:
        """Conversations filled into the cached skeletons of their role sequences (and rendered once
        where the template is not verbatim or the skeleton not yet checked), many at once.

        Args:
            conversations: The conversations.
            trained_roles: Each conversation's trained roles.

        Returns:
            Each conversation's text and trained spans, and the indices of the conversations no skeleton
            applies to (their text is empty and they have no spans: :meth:`text_and_spans` renders them).
        """
        texts: list[str] = []
        all_spans: list[Spans] = []
        misses: list[int] = []
        if not self._skeletons_ok:
            n = len(conversations)
            return [""] * n, [[] for _ in range(n)], list(range(n))
        skeletons, verbatim_template = self._skeletons, self._verbatim
        for i, (messages, roles) in enumerate(zip(conversations, trained_roles, strict=True)):
            skeleton = skeletons.get((tuple(map(_ROLE, messages)), roles), _UNBUILT)
            if skeleton is _UNBUILT:
                skeleton = self._skeleton(messages, roles)
            text = None
            if skeleton is not None:
                # Literal pieces and contents alternate: parts[2k] is piece k.
                if skeleton.in_order:
                    contents = list(map(_CONTENT, messages))
                else:
                    contents = [messages[k]["content"] for k in skeleton.order]
                parts = skeleton.parts.copy()
                parts[1::2] = contents
                text = "".join(parts)
                if not text.isascii() and (_PH_OPEN in text or _PH_CLOSE in text):
                    text = None  # a content holds a placeholder character (the pieces never do)
                # A verbatim template renders a conversation of roles and contents as its filled-in
                # skeleton (every message has these two keys: the sum of key counts says whether any has
                # more); otherwise the rendering must equal the filled-in skeleton.
                elif not (
                    verbatim_template and skeleton.checked and sum(map(len, messages)) == 2 * len(messages)
                ):
                    try:
                        rendered = self.render(messages)
                    except Exception:  # the general path renders it again and reports the error
                        rendered = None
                    if text == rendered:
                        skeleton.checked = True
                    else:
                        text = None
            if text is None:
                misses.append(i)
                texts.append("")
                all_spans.append([])
                continue
            # The length of the contents before each piece.
            before = list(accumulate(map(len, contents), initial=0))
            texts.append(text)
            all_spans.append([(ca + before[ka], cb + before[kb]) for ka, ca, kb, cb in skeleton.bounds])
        return texts, all_spans, misses

    def fill(
        self, conversations: Sequence[list[dict[str, str]]], trained_roles: Sequence[frozenset[str]]
    ) -> tuple[list[str], np.ndarray, np.ndarray] | None:
        """:meth:`by_skeletons` of a whole batch at once, where every conversation fills a checked skeleton
        of a verbatim template: each text one ``%``-format of its skeleton, the span bounds of the whole
        batch in one vectorised sum (the contents' lengths by a cumulative sum). No render and no
        per-conversation Python loop.

        Args:
            conversations: The conversations.
            trained_roles: Each conversation's trained roles.

        Returns:
            The texts; every span bound (start, end, start, ...) as a position in the texts laid end to
            end, text after text; and each text's number of bounds (twice its spans). None where the batch
            does not qualify (a template that is not verbatim, a message with keys besides role and
            content, a content holding a placeholder character, a skeleton that does not apply or keeps
            the contents out of message order): :meth:`by_skeletons` then takes it conversation by
            conversation. Skeletons not yet built or checked are built and checked first.
        """
        n = len(conversations)
        if not self._verbatim or not n:
            return None
        messages = list(chain.from_iterable(conversations))
        if sum(map(len, messages)) != 2 * len(messages):
            return None  # a message has keys besides role and content
        skeletons = self._skeletons
        keys = list(zip(map(tuple, map(map, repeat(_ROLE), conversations)), trained_roles, strict=True))
        found = list(map(skeletons.get, keys))
        if None in found or not all(map(attrgetter("checked"), found)):
            todo = [i for i, s in enumerate(found) if s is None or not s.checked]
            if self.by_skeletons([conversations[i] for i in todo], [trained_roles[i] for i in todo])[2]:
                return None
            found = list(map(skeletons.get, keys))
            if None in found:
                return None
        if not all(map(attrgetter("in_order"), found)):
            return None
        contents = list(map(tuple, map(map, repeat(_CONTENT), conversations)))
        texts = list(map(mod, map(_FORMAT, found), contents))
        if not all(map(str.isascii, texts)) and any(_PH_OPEN in t or _PH_CLOSE in t for t in texts):
            return None  # a content holds a placeholder character (the pieces never do)
        # Bound j of conversation i: where text i starts, plus its offset into the pieces, plus the length
        # of conversation i's contents before its piece (a difference of the contents' cumulative sum).
        lengths = np.fromiter(map(len, texts), np.int64, n)
        text_base = np.zeros(n, np.int64)
        np.cumsum(lengths[:-1], out=text_base[1:])
        first_message = np.zeros(n, np.int64)
        np.cumsum(np.fromiter(map(len, conversations), np.int64, n)[:-1], out=first_message[1:])
        contents_before = np.zeros(len(messages) + 1, np.int64)
        np.cumsum(
            np.fromiter(map(len, chain.from_iterable(contents)), np.int64, len(messages)),
            out=contents_before[1:],
        )
        per_text = np.fromiter(map(len, map(_BOUND_PIECES, found)), np.int64, n)
        total = int(per_text.sum())
        owner = np.repeat(np.arange(n), per_text)
        piece = np.fromiter(chain.from_iterable(map(_BOUND_PIECES, found)), np.int64, total)
        offset = np.fromiter(chain.from_iterable(map(_BOUND_OFFSETS, found)), np.int64, total)
        start = (text_base - contents_before[first_message])[owner]
        bounds = start + offset + contents_before[first_message[owner] + piece]
        return texts, bounds, per_text

    def _build_skeleton(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> _Skeleton | None:
        placeholders = [
            {"role": m["role"], "content": f"{_PH_OPEN}{i}{_PH_CLOSE}"} for i, m in enumerate(messages)
        ]
        try:
            found = self.prefix_spans(placeholders, trained_roles)
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

    def prefix_spans(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, Spans] | None:
        """Spans from rendering growing prefixes (the general path); None if the template does not render
        prefixes."""
        prev = self._render_empty()
        spans: Spans = []
        for i, msg in enumerate(messages):
            cur = self.render(messages[: i + 1])
            if not cur.startswith(prev):
                return None
            if msg["role"] in trained_roles:
                start = len(prev)
                if msg["role"] == "assistant":
                    gen = self.render(messages[:i], add_generation_prompt=True)
                    if cur.startswith(gen) and len(gen) >= len(prev):
                        start = len(gen)
                spans.append((start, len(cur)))
            prev = cur
        return prev, spans

    def spans_by_search(
        self, messages: list[dict[str, str]], trained_roles: frozenset[str]
    ) -> tuple[str, Spans]:
        """Spans by finding each message's content in the rendering, in order (templates that do not render
        prefixes)."""
        text = self.render(messages)
        spans: Spans = []
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
