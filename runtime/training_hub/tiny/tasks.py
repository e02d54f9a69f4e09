"""The synthetic word tasks behind every tiny dataset: a small closed vocabulary (learnable in a few
steps), the tasks (repeat, reverse, count, first, last word) and their deterministic answers."""

from __future__ import annotations

import random

#: Words of the synthetic tasks: a small closed vocabulary makes the tasks learnable in a few steps.
WORDS = [
    "apple",
    "banana",
    "cherry",
    "grape",
    "lemon",
    "mango",
    "olive",
    "peach",
    "pear",
    "plum",
    "berry",
    "melon",
    "red",
    "green",
    "blue",
    "black",
    "white",
    "pink",
    "brown",
    "gray",
    "gold",
    "silver",
    "cat",
    "dog",
    "bird",
    "fish",
    "frog",
    "horse",
    "mouse",
    "sheep",
]
NUMBER_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
TASKS = ("repeat", "reverse", "count", "first", "last")


def answer(task: str, words: list[str]) -> str:
    """The right answer of ``task`` over ``words``."""
    if task == "repeat":
        return " ".join(words)
    if task == "reverse":
        return " ".join(reversed(words))
    if task == "count":
        return NUMBER_WORDS[len(words)]
    if task == "first":
        return words[0]
    return words[-1]


def synthetic_examples(n: int, seed: int = 0, tasks: tuple[str, ...] = TASKS) -> list[tuple[str, str]]:
    """Deterministic (question, answer) pairs of the synthetic word tasks."""
    rng = random.Random(seed)
    pairs = []
    for _ in range(n):
        task = rng.choice(tasks)
        words = rng.choices(WORDS, k=rng.randint(2, 5))
        pairs.append((f"{task}: {' '.join(words)}", answer(task, words)))
    return pairs


#: Topics of the labelled texts of :func:`write_labeled_dataset` (a text's words come from its topic).
LABEL_TOPICS: dict[str, tuple[str, ...]] = {
    "fruit": tuple(WORDS[0:12]),
    "color": tuple(WORDS[12:22]),
    "animal": tuple(WORDS[22:30]),
}
