"""Tiny, fully local building blocks for tests, benchmarks and demo runs: nothing is ever downloaded.

* :func:`build_tokenizer` (:mod:`~training_hub.tiny.tokenizer`): a small byte-level BPE tokenizer trained
  here with `tokenizers`, saved as a `transformers` fast tokenizer with bos/eos/pad tokens and a Jinja chat
  template.
* :func:`build_tiny_model` (:mod:`~training_hub.tiny.models`): a randomly initialised tiny causal LM
  (Llama, Qwen2 or Mistral layout) saved with `save_pretrained`, with the tokenizer in the same directory;
  :func:`build_tiny_embedding_model`, a tiny sentence-transformers encoder.
* :func:`write_synthetic_dataset` (:mod:`~training_hub.tiny.datasets`): a learnable JSONL dataset
  (deterministic word tasks such as repeating, reversing or counting words, :mod:`~training_hub.tiny.tasks`)
  in the `messages`, `document` or `alpaca` format; :func:`write_labeled_dataset` and
  :func:`write_preference_dataset` for embedding fine-tuning and DPO.

torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

from training_hub.tiny.datasets import (
    write_labeled_dataset,
    write_preference_dataset,
    write_synthetic_dataset,
)
from training_hub.tiny.models import build_tiny_embedding_model, build_tiny_model
from training_hub.tiny.tasks import LABEL_TOPICS, NUMBER_WORDS, TASKS, WORDS, synthetic_examples
from training_hub.tiny.tokenizer import CHAT_TEMPLATE, build_tokenizer

__all__ = [
    "CHAT_TEMPLATE",
    "LABEL_TOPICS",
    "NUMBER_WORDS",
    "TASKS",
    "WORDS",
    "build_tiny_embedding_model",
    "build_tiny_model",
    "build_tokenizer",
    "synthetic_examples",
    "write_labeled_dataset",
    "write_preference_dataset",
    "write_synthetic_dataset",
]
