"""Label masking is exact: trained tokens are exactly the assistant tokens (or the unmasked roles)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from training_hub.data import IGNORE_INDEX, prepare_dataset, read_records

pytestmark = pytest.mark.unit

SYSTEM_ROLES = {"system"}


@pytest.fixture(scope="module")
def tokenizer(tiny_tokenizer_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))


def expected_ids_and_labels(
    tokenizer, messages: list[dict], trained_roles: set[str]
) -> tuple[list[int], list[int]]:
    """Tokenise the template's pieces one by one (the tiny template: bos, then `<|role|>\\n{content}<|eos|>\\n`).

    The header of an assistant message is never trained; other trained roles train their whole message.
    """
    enc = tokenizer.backend_tokenizer

    def toks(text: str) -> list[int]:
        return enc.encode(text, add_special_tokens=False).ids

    ids = toks(tokenizer.bos_token)
    labels = [IGNORE_INDEX] * len(ids)
    for m in messages:
        header = toks(f"<|{m['role']}|>\n")
        body = toks(m["content"] + tokenizer.eos_token + "\n")
        train = m["role"] in trained_roles
        ids += header + body
        labels += header if train and m["role"] != "assistant" else [IGNORE_INDEX] * len(header)
        labels += body if train else [IGNORE_INDEX] * len(body)
    return ids, labels


def test_assistant_only_masking_is_exact(messages_data: Path, tokenizer) -> None:
    ds, _ = prepare_dataset(messages_data, tokenizer, max_seq_len=128)
    _, records = read_records(messages_data)
    for i, rec in enumerate(records):
        ids, labels = ds.sample(i)
        exp_ids, exp_labels = expected_ids_and_labels(tokenizer, rec.messages, {"assistant"})
        assert ids.tolist() == exp_ids
        assert labels.tolist() == exp_labels
    # and the trained text decodes to exactly the answers
    ids, labels = ds.sample(0)
    answer = records[0].messages[-1]["content"]
    assert tokenizer.decode(ids[labels != IGNORE_INDEX].tolist()) == answer + tokenizer.eos_token + "\n"


def multi_turn(unmask: bool | None = None) -> dict:
    rec: dict = {
        "messages": [
            {"role": "system", "content": "Answer in a few words."},
            {"role": "user", "content": "repeat: cat dog"},
            {"role": "assistant", "content": "cat dog"},
            {"role": "user", "content": "count: red blue green"},
            {"role": "assistant", "content": "three"},
        ]
    }
    if unmask is not None:
        rec["unmask"] = unmask
    return rec


@pytest.mark.parametrize(
    ("unmask", "unmask_roles", "trained"),
    [
        (None, None, {"assistant"}),
        (True, None, {"user", "assistant", "tool"}),
        (False, ["user", "assistant"], {"user", "assistant"}),
        (None, ["system", "assistant"], {"system", "assistant"}),
    ],
)
def test_multi_turn_and_unmask(tmp_path: Path, tokenizer, unmask, unmask_roles, trained) -> None:
    rec = multi_turn(unmask)
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(rec) + "\n")
    ds, stats = prepare_dataset(path, tokenizer, max_seq_len=256, unmask_roles=unmask_roles)
    ids, labels = ds.sample(0)
    exp_ids, exp_labels = expected_ids_and_labels(tokenizer, rec["messages"], trained)
    assert ids.tolist() == exp_ids
    assert labels.tolist() == exp_labels
    assert stats.num_trained_tokens == int(np.sum(np.asarray(exp_labels) != IGNORE_INDEX))


def test_alpaca_trains_only_the_output(alpaca_data: Path, tokenizer) -> None:
    ds, _ = prepare_dataset(alpaca_data, tokenizer, max_seq_len=128)
    rows = [json.loads(line) for line in alpaca_data.read_text().splitlines()]
    for i in range(20):
        ids, labels = ds.sample(i)
        row = rows[i]
        prompt = f"{row['instruction']}\n\n{row['input']}" if row.get("input") else row["instruction"]
        msgs = [{"role": "user", "content": prompt}, {"role": "assistant", "content": row["output"]}]
        exp_ids, exp_labels = expected_ids_and_labels(tokenizer, msgs, {"assistant"})
        assert ids.tolist() == exp_ids
        assert labels.tolist() == exp_labels


def test_template_without_prefix_property_falls_back_to_content_search(tmp_path: Path, tokenizer) -> None:
    """A template that renders the last message differently still masks the assistant content."""
    import copy

    tok = copy.deepcopy(tokenizer)
    tok.chat_template = (
        "{{ bos_token }}{% for m in messages %}{% if loop.last %}[LAST]{% endif %}"
        "<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    )
    path = tmp_path / "m.jsonl"
    path.write_text(json.dumps(multi_turn()) + "\n")
    ds, _ = prepare_dataset(path, tok, max_seq_len=256)
    ids, labels = ds.sample(0)
    trained_text = tok.decode(ids[labels != IGNORE_INDEX].tolist())
    assert trained_text == "cat dogthree"
