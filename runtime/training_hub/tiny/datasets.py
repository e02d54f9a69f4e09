"""Learnable JSONL datasets of the synthetic word tasks: instruction data (`messages`, `document` or
`alpaca`), labelled texts for embedding fine-tuning, and preference pairs for DPO."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from training_hub.tiny.tasks import LABEL_TOPICS, TASKS, WORDS, synthetic_examples


def _write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """Write one JSON object a line (creating the parent directory); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(json.dumps(record) for record in records) + "\n", encoding="utf-8")
    return out


def write_synthetic_dataset(
    path: str | Path,
    n: int = 256,
    fmt: str = "messages",
    seed: int = 0,
    tasks: tuple[str, ...] = TASKS,
    system_prompt: str | None = "Answer in a few words.",
) -> Path:
    """Write a learnable synthetic JSONL dataset.

    Args:
        path: File to write.
        n: Number of samples (lines).
        fmt: `messages`, `document` or `alpaca`.
        seed: Seed of the word choices.
        tasks: Subset of :data:`TASKS` to use.
        system_prompt: System message of `messages` samples (None: no system message).

    Returns:
        The path written.

    Raises:
        ValueError: If the format is unknown.
    """
    records = []
    for question, answer in synthetic_examples(n, seed, tasks):
        record: dict[str, Any]
        if fmt == "messages":
            messages = [{"role": "system", "content": system_prompt}] if system_prompt else []
            messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
            record = {"messages": messages}
        elif fmt == "document":
            record = {"document": f"{question} => {answer}."}
        elif fmt == "alpaca":
            task, _, words = question.partition(": ")
            record = {"instruction": f"{task} the words", "input": words, "output": answer}
        else:
            raise ValueError(f"unknown format {fmt!r}; choose messages, document or alpaca")
        records.append(record)
    return _write_jsonl(path, records)


def write_labeled_dataset(path: str | Path, n: int = 96, seed: int = 0) -> Path:
    """Write ``{"text": ..., "label": <topic name>}`` lines whose words come from their topic (learnable).

    Args:
        path: File to write.
        n: Number of lines (topics take turns).
        seed: Seed of the word choices.

    Returns:
        The path written.
    """
    rng = random.Random(seed)
    topics = list(LABEL_TOPICS)
    records = []
    for i in range(n):
        topic = topics[i % len(topics)]
        words = rng.choices(LABEL_TOPICS[topic], k=rng.randint(2, 5))
        records.append({"text": " ".join(words), "label": topic})
    return _write_jsonl(path, records)


def write_preference_dataset(path: str | Path, n: int = 64, fmt: str = "standard", seed: int = 0) -> Path:
    """Write a learnable preference JSONL dataset for DPO: the chosen response is the synthetic task's right
    answer, the rejected one a wrong answer (the words of another sample).

    Args:
        path: File to write.
        n: Number of pairs (lines).
        fmt: `standard` (`prompt`/`chosen`/`rejected` strings) or `chat` (message lists).
        seed: Seed of the word choices.

    Returns:
        The path written.

    Raises:
        ValueError: If the format is unknown.
    """
    if fmt not in ("standard", "chat"):
        raise ValueError(f"unknown preference format {fmt!r}; choose standard or chat")
    rng = random.Random(seed + 1)
    examples = synthetic_examples(n, seed)
    records = []
    for question, answer in examples:
        wrong = answer
        while wrong == answer:
            wrong = " ".join(rng.choices(WORDS, k=rng.randint(1, 4)))
        if fmt == "standard":
            record: dict[str, Any] = {"prompt": f"{question}\n", "chosen": answer, "rejected": wrong}
        else:
            record = {
                "prompt": [{"role": "user", "content": question}],
                "chosen": [{"role": "assistant", "content": answer}],
                "rejected": [{"role": "assistant", "content": wrong}],
            }
        records.append(record)
    return _write_jsonl(path, records)
