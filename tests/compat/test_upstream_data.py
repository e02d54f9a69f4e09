"""Upstream's data conventions: an assistant message's ``reasoning_content`` reaches the chat template and
trains with the message; ``lora_sft`` trains the whole rendered conversation (CPU, the tiny tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training_hub.data import prepare_dataset
from training_hub.data.formats import read_records
from training_hub.data.labels import IGNORE_INDEX

pytestmark = pytest.mark.unit

#: A template that renders reasoning the way reasoning models' templates do (Qwen3-style ``<think>``).
REASONING_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|>"
    "{% if m['role'] == 'assistant' and m.get('reasoning_content') %}<think>{{ m['reasoning_content'] }}</think>"
    "{% endif %}{{ m['content'] }}</s>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def test_reasoning_content_is_kept_and_trained(tiny_tokenizer_dir: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    sample = {
        "messages": [
            {"role": "user", "content": "add two and two"},
            {"role": "assistant", "content": "four", "reasoning_content": "two plus two is four"},
        ]
    }
    path = tmp_path / "reasoning.jsonl"
    path.write_text(json.dumps(sample) + "\n")
    _, [record] = read_records(path)
    assert record.messages[1]["reasoning_content"] == "two plus two is four"

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    tokenizer.chat_template = REASONING_TEMPLATE
    dataset, _ = prepare_dataset(path, tokenizer, max_seq_len=256)
    trained = dataset.input_ids[dataset.labels != IGNORE_INDEX]
    text = tokenizer.decode(trained)
    assert "two plus two is four" in text and "four" in text
    assert "add two and two" not in text  # the user turn stays masked


def test_lora_sft_messages_train_the_whole_rendered_conversation_as_upstream(
    tiny_tokenizer_dir: Path, messages_data: Path
) -> None:
    # Upstream's LoRA backend renders `messages` with the chat template into a text column and trains every
    # token (TRL with assistant_only_loss=False); the upstream name keeps that default here.
    from transformers import AutoTokenizer

    from training_hub.data.options import data_options

    tokenizer = AutoTokenizer.from_pretrained(str(tiny_tokenizer_dir))
    options = data_options({"data_format": "auto", "unmask_roles": None}, "lora_sft")
    dataset, _ = prepare_dataset(messages_data, tokenizer, max_seq_len=512, **options)
    assert (dataset.labels == dataset.input_ids).all()  # every token, system prompt and headers included
    _, records = read_records(messages_data)
    text = tokenizer.apply_chat_template(records[0].messages, tokenize=False, add_generation_prompt=False)
    first = dataset.input_ids[: dataset.lengths[0]].tolist()
    assert first == [*tokenizer(text)["input_ids"], tokenizer.eos_token_id]

    chosen = data_options({"data_format": "auto", "unmask_roles": ["assistant"]}, "lora_sft")
    masked, _ = prepare_dataset(messages_data, tokenizer, max_seq_len=512, **chosen)
    trained = int((masked.labels != IGNORE_INDEX).sum())
    assert 0 < trained < masked.input_ids.size // 2  # unmask_roles: the prompt (system, user) stays masked
