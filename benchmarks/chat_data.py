"""Deterministic synthetic chat data for the benchmarks: single- and multi-turn `messages` JSONL.

Built from the tiny tokenizer's closed vocabulary (:data:`training_hub.tiny.WORDS`), so every sample
tokenises to a predictable size. Lengths vary (a system prompt on some samples, 1 to `max_turns`
user/assistant turns, 4 to `max_words` words per message), which is what padding-free batching is about.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

from training_hub.tiny import NUMBER_WORDS, WORDS

#: The tiny tokenizer's chat template without the newline after each message's EOS token. Under this
#: template instructlab-training's masking (assistant content + everything up to and including EOS)
#: and ours (the assistant message after the generation prompt: content + EOS + whatever the template
#: appends) select the same tokens, so token ids and labels can be compared for exact equality.
EOS_TERMINATED_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + eos_token }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
)

_VOCAB = WORDS + list(NUMBER_WORDS)


def _sentence(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(_VOCAB, k=rng.randint(lo, hi)))


def chat_records(n: int, seed: int = 0, max_turns: int = 3, max_words: int = 48) -> list[dict[str, Any]]:
    """`n` chat records (every one has at least one assistant message and >= 20 tokens).

    Args:
        n: Number of records.
        seed: Seed of the random choices.
        max_turns: Most user/assistant turns per record.
        max_words: Most words per message.

    Returns:
        The records (`{"messages": [...]}`), in order.
    """
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    for _ in range(n):
        msgs: list[dict[str, str]] = []
        if rng.random() < 0.5:
            msgs.append({"role": "system", "content": "You are a helpful assistant. " + _sentence(rng, 2, 8)})
        for _ in range(rng.randint(1, max_turns)):
            msgs.append({"role": "user", "content": _sentence(rng, 6, max_words)})
            msgs.append({"role": "assistant", "content": _sentence(rng, 4, max_words)})
        out.append({"messages": msgs})
    return out


def write_chat_dataset(path: Path, n: int, seed: int = 0, max_turns: int = 3, max_words: int = 48) -> Path:
    """Write :func:`chat_records` as JSONL and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    records = chat_records(n, seed, max_turns, max_words)
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path
