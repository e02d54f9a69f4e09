"""The fast tokenisation paths (skeletons, byte-level starts) give exactly what the general path gives.

The reference renders growing prefixes for every sample (`ChatRenderer.prefix_spans`, or the content
search for templates without the prefix property) and tokenises with transformers' own offsets
(`return_offsets_mapping`); a token is trained iff its first character lies in a trained span.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training_hub.data import IGNORE_INDEX
from training_hub.data.byte_level import byte_level_starts, ids_and_starts
from training_hub.data.chat_render import ChatRenderer, trained_roles_for
from training_hub.data.chat_template import content_only_output, contents_verbatim
from training_hub.data.dataset import prepare_dataset
from training_hub.data.formats import Record
from training_hub.data.tokenize import tokenize_chat
from training_hub.tiny import WORDS

pytestmark = pytest.mark.unit

EOS_TEMPLATE = (
    "{{- bos_token }}{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + eos_token }}{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
)
TRIM_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] | trim }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
FIRST_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] != 'system' %}<|system|>\ndefault{{ eos_token }}\n{% endif %}"
    "{% for m in messages %}{% if loop.last %}[LAST]{% endif %}<|{{ m.role }}|>\n{{ m.content }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CONTENT_BRANCH_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{% if loop.last and 'cat' in m['content'] %}[CAT]{% endif %}"
    "<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def _content(rng: random.Random) -> str:
    words = rng.choices(WORDS, k=rng.randint(0, 12))
    if rng.random() < 0.05:
        words.append(rng.choice(["café", "naïve", "日本"]))
    text = " ".join(words)
    pad = ["", " ", "  ", "\n", " \n "]
    return rng.choice(pad) + text + rng.choice(pad)


def _records(n: int, seed: int) -> list[Record]:
    rng = random.Random(seed)
    out: list[Record] = []
    for line in range(1, n + 1):
        msgs: list[dict[str, str]] = []
        if rng.random() < 0.4:
            msgs.append({"role": "system", "content": _content(rng)})
        for _ in range(rng.randint(1, 3)):
            msgs.append({"role": "user", "content": _content(rng)})
            msgs.append({"role": "assistant", "content": _content(rng)})
        if rng.random() < 0.1:
            msgs[-1] = {"role": "assistant", "content": "x\ue000y"}  # a skeleton placeholder character
        if rng.random() < 0.05:
            msgs[-1] = {**msgs[-1], "reasoning_content": "why"}  # a key besides role and content
        out.append(Record(line=line, messages=msgs, unmask=rng.random() < 0.2))
    return out


def _reference(
    tok: Any, records: list[Record], unmask_roles: list[str] | None, max_len: int | None = None
) -> list[tuple[list, list]]:
    renderer = ChatRenderer(tok)
    out = []
    for rec in records:
        roles = trained_roles_for(rec, unmask_roles)
        found = renderer.prefix_spans(rec.messages, roles) or renderer.spans_by_search(rec.messages, roles)
        text, spans = found
        enc = tok(text, add_special_tokens=False, return_offsets_mapping=True)
        ids = list(enc["input_ids"])
        labels = [
            i if any(a <= s < b for a, b in spans) else IGNORE_INDEX
            for i, (s, _) in zip(ids, enc["offset_mapping"], strict=True)
        ]
        out.append((ids[:max_len], labels[:max_len]))
    return out


def _with_template(tok: Any, template: str | None) -> Any:
    if template is None:
        return tok
    tok = copy.deepcopy(tok)
    tok.chat_template = template
    return tok


@pytest.mark.parametrize(
    "template", [None, EOS_TEMPLATE, TRIM_TEMPLATE, FIRST_TEMPLATE, CONTENT_BRANCH_TEMPLATE]
)
@pytest.mark.parametrize("unmask_roles", [None, ["user", "assistant"]])
def test_fast_paths_equal_the_general_path(tokenizer: Any, template: str | None, unmask_roles) -> None:
    tok = _with_template(tokenizer, template)
    records = _records(700, seed=len(template or "") + len(unmask_roles or []))  # more than one batch
    got = tokenize_chat(records, tok, unmask_roles, lambda r: str(r.line))
    want = _reference(tok, records, unmask_roles)
    trained = 0
    for (ids, labels), (exp_ids, exp_labels) in zip(got, want, strict=True):
        assert ids.tolist() == exp_ids
        assert labels.tolist() == exp_labels
        trained += int(np.sum(labels != IGNORE_INDEX))
    assert trained > 0


def _offsets_starts(tok: Any, texts: list[str]) -> list[list[int]]:
    return [
        [s for s, _ in e.offsets] for e in tok.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    ]


@pytest.mark.parametrize("trim", ["none", "trim", "trim_no_prefix_space"])
def test_byte_level_starts_equal_the_offsets(tokenizer: Any, trim: str) -> None:
    """Starts from token byte lengths (no offsets computed) equal the Rust tokenizer's offsets."""
    from tokenizers import processors

    tok = copy.deepcopy(tokenizer)
    if trim != "none":  # a ByteLevel post-processor with `trim_offsets` moves starts past leading spaces
        tok.backend_tokenizer.post_processor = processors.ByteLevel(
            trim_offsets=True, add_prefix_space=trim == "trim"
        )
    fast = byte_level_starts(tok)
    assert fast is not None
    renderer = ChatRenderer(tok)
    texts = [renderer.render(r.messages) for r in _records(300, seed=3)]
    texts += ["", " ", " x", "  x  y ", "\n\n a", "<|eos|> <|bos|>  ", " <|eos|>"]
    ascii_texts = [t for t in texts if t.isascii()]
    got = fast.encode(ascii_texts)
    assert got is not None
    assert [s.tolist() for s in got[1]] == _offsets_starts(tok, ascii_texts)
    assert fast.encode(["café"]) is None  # non-ASCII text: offsets are needed
    ids, starts, used = ids_and_starts(tok, texts, fast)
    assert used
    assert [s.tolist() for s in starts] == _offsets_starts(tok, texts)
    assert [i.tolist() for i in ids] == [
        e.ids for e in tok.backend_tokenizer.encode_batch(texts, add_special_tokens=False)
    ]


def test_skeletons_are_used_for_eligible_templates(tokenizer: Any) -> None:
    renderer = ChatRenderer(_with_template(tokenizer, EOS_TEMPLATE))
    records = _records(50, seed=5)
    for rec in records:
        renderer.text_and_spans(rec.messages, frozenset({"assistant"}))
    assert renderer._skeletons and all(s is not None for s in renderer._skeletons.values())
    assert not ChatRenderer(_with_template(tokenizer, CONTENT_BRANCH_TEMPLATE))._skeletons_ok


@pytest.mark.parametrize("trim", [False, True])
def test_byte_level_trimming_post_processor(tokenizer: Any, trim: bool) -> None:
    """End to end through `tokenize_chat`, with and without a trimming ByteLevel post-processor."""
    from tokenizers import processors

    tok = copy.deepcopy(tokenizer)
    if trim:
        tok.backend_tokenizer.post_processor = processors.ByteLevel(trim_offsets=True)
    records = _records(300, seed=7)
    got = tokenize_chat(records, tok, ["user", "assistant"], lambda r: str(r.line))
    want = _reference(tok, records, ["user", "assistant"])
    for (ids, labels), (exp_ids, exp_labels) in zip(got, want, strict=True):
        assert ids.tolist() == exp_ids
        assert labels.tolist() == exp_labels


CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>'"
    " + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
VERBATIM_OK = "{% for m in messages[1:] %}{{ m.content }}{% endfor %}{{ messages | length }}"


@pytest.mark.parametrize(
    ("template", "eligible", "verbatim"),
    [
        (EOS_TEMPLATE, True, True),
        (TRIM_TEMPLATE, True, False),  # `trim` changes the content
        (FIRST_TEMPLATE, True, True),
        (CONTENT_BRANCH_TEMPLATE, False, False),
        ("{% for m in messages %}{% set c = m.content %}{{ c }}{% endfor %}", False, False),
        ("{% for m in messages %}{{ m.content | replace('a', m.content) }}{% endfor %}", False, False),
        ("{% for m in messages %}{{ m['content'] if m['content'] else 'empty' }}{% endfor %}", False, False),
        ("{% for m in messages %}{{ m.content ~ '|' }}{% endfor %}", True, True),
        (VERBATIM_OK, True, True),
        (CHATML_TEMPLATE, True, True),
        ("{% for m in messages %}{{ m.content }}{{ m.name }}{% endfor %}", True, False),  # another key
        ("{% for m in messages %}{{ m.get('content') }}{% endfor %}", True, False),
        ("{{ messages | tojson }}{% for m in messages %}{{ m.content }}{% endfor %}", True, False),
        ("{% for m in messages %}{{ m.content }}{{ loop.previtem }}{% endfor %}", True, False),
        ("{% set ms = messages %}{% for m in ms %}{{ m.content }}{% endfor %}", True, False),
        ("{% for m in messages %}{{ m.content }}{% endfor %}{{ messages[0] }}", True, False),
        ("{% for m in messages %}{{ m.content", False, False),  # does not parse
    ],
)
def test_skeleton_eligibility(template: str, eligible: bool, verbatim: bool) -> None:
    assert content_only_output(template) is eligible
    assert contents_verbatim(template) is verbatim


@pytest.mark.parametrize("template", [None, EOS_TEMPLATE, FIRST_TEMPLATE])
def test_verbatim_templates_fill_in_skeletons_without_rendering(tokenizer: Any, template: str | None) -> None:
    """After one checked render per role sequence, a verbatim template's samples are not rendered at all,
    and the texts and spans are those of the general path."""
    renderer = ChatRenderer(_with_template(tokenizer, template))
    assert renderer._verbatim
    calls = 0
    render = renderer.render

    def counting(*args: Any, **kwargs: Any) -> str:
        nonlocal calls
        calls += 1
        return render(*args, **kwargs)

    renderer.render = counting  # type: ignore[method-assign]
    records = [r for r in _records(200, seed=11) if all(len(m) == 2 for m in r.messages)]
    for rec in records:
        renderer.text_and_spans(rec.messages, frozenset({"assistant"}))
    calls = 0
    for rec in records:
        roles = trained_roles_for(rec, None)
        got = renderer.text_and_spans(rec.messages, roles)
        assert got == (
            renderer.prefix_spans(rec.messages, roles) or renderer.spans_by_search(rec.messages, roles)
        )
        calls -= 2 * len(rec.messages) + 1  # the reference's own renders (at most)
    assert calls <= 0


@pytest.mark.parametrize("template", [None, EOS_TEMPLATE, FIRST_TEMPLATE, TRIM_TEMPLATE])
def test_prepared_dataset_equals_the_reference_with_truncation(
    tokenizer: Any, template: str | None, tmp_path: Path
) -> None:
    """`prepare_dataset` end to end (validation, fast paths, truncation, cache) against the reference:
    multi-turn samples, system prompts, unicode, placeholder characters, extra message keys."""
    import json

    tok = _with_template(tokenizer, template)
    records = _records(600, seed=13)
    data = tmp_path / "chat.jsonl"
    data.write_text(
        "".join(json.dumps({"messages": r.messages, "unmask": r.unmask}) + "\n" for r in records),
        encoding="utf-8",
    )
    dataset, stats = prepare_dataset(data, tok, max_seq_len=40, output_dir=tmp_path / "cache")
    want = _reference(tok, records, None, max_len=40)
    assert stats.num_truncated > 0
    assert len(dataset) == len(want)
    for i, (exp_ids, exp_labels) in enumerate(want):
        ids, labels = dataset.sample(i)
        assert ids.tolist() == exp_ids
        assert labels.tolist() == exp_labels


# Literal `%` in the pieces (the batch fill formats texts with `%`).
PERCENT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> 100%s %d%%\n{{ m['content'] }}{{ eos_token }}\n"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|> 100%s %d%%\n{% endif %}"
)


@pytest.mark.parametrize("template", [None, EOS_TEMPLATE, CHATML_TEMPLATE, PERCENT_TEMPLATE])
@pytest.mark.parametrize("unmask_roles", [None, ["user", "assistant"]])
def test_batch_fill_equals_the_general_path(tokenizer: Any, template: str | None, unmask_roles) -> None:
    """A batch of plain samples (role and content only, no placeholder character) under a verbatim template
    is filled at once (`ChatRenderer.fill`, no render per sample): its texts and span bounds are those of
    the per-conversation path, and the tokens and labels those of the general path."""
    tok = _with_template(tokenizer, template)
    records = [
        r
        for r in _records(700, seed=17 + len(unmask_roles or []))
        if all(len(m) == 2 and "\ue000" not in m["content"] for m in r.messages)
    ]
    renderer = ChatRenderer(tok)
    conversations = [r.messages for r in records]
    roles = [trained_roles_for(r, unmask_roles) for r in records]
    filled = renderer.fill(conversations, roles)
    assert filled is not None
    texts, bounds, per_text = filled
    want_texts, want_spans, misses = renderer.by_skeletons(conversations, roles)
    assert not misses
    assert texts == want_texts
    base = np.cumsum([0] + [len(t) for t in texts[:-1]])
    want_bounds = [b + int(base[i]) for i, spans in enumerate(want_spans) for span in spans for b in span]
    assert bounds.tolist() == want_bounds
    assert per_text.tolist() == [2 * len(s) for s in want_spans]
    # A batch with one sample the fill does not take goes conversation by conversation.
    odd = [*conversations[:5], [{"role": "user", "content": "a\ue000b"}]]
    assert renderer.fill(odd, roles[:6]) is None
    got = tokenize_chat(records, tok, unmask_roles, lambda r: str(r.line))
    for (ids, labels), (exp_ids, exp_labels) in zip(got, _reference(tok, records, unmask_roles), strict=True):
        assert ids.tolist() == exp_ids
        assert labels.tolist() == exp_labels
