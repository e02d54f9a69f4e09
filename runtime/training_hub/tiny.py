"""Tiny, fully local building blocks for tests, benchmarks and demo runs: nothing is ever downloaded.

* :func:`build_tokenizer`: a small byte-level BPE tokenizer trained here with `tokenizers`, saved as a
  `transformers` fast tokenizer with bos/eos/pad tokens and a Jinja chat template.
* :func:`build_tiny_model`: a randomly initialised tiny causal LM (Llama, Qwen2 or Mistral layout) saved
  with `save_pretrained`, with the tokenizer in the same directory.
* :func:`write_synthetic_dataset`: a learnable JSONL dataset (deterministic word tasks such as repeating,
  reversing or counting words) in the `messages`, `document` or `alpaca` format.

torch and transformers are imported inside the functions only.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path
from typing import Any

BOS_TOKEN = "<|bos|>"
EOS_TOKEN = "<|eos|>"
PAD_TOKEN = "<|pad|>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>", "<|tool|>")

#: Chat template: every message is ``<|role|>\n{content}<|eos|>\n`` after a leading bos token. The
#: generation prompt is ``<|assistant|>\n``, so an assistant message's trained span is its content, its eos
#: token and the newline after it.
CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|' + message['role'] + '|>\\n' + message['content'] + eos_token + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|assistant|>\\n' }}{%- endif %}"
)

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

_CORPUS_EXTRA = (
    "The quick brown fox jumps over the lazy dog. Training a model is mostly a matter of data. "
    "You are a helpful assistant. Please answer the question in a few words. "
    "Repeat the words. Reverse the words. Count the words. Say the first word. Say the last word. "
    "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 + - * / = ( ) [ ] { } : ; , . ! ? ' \" "
)


def _tokenizer_corpus() -> list[str]:
    rng = random.Random(1234)
    lines = [_CORPUS_EXTRA] * 4
    for _ in range(400):
        task = rng.choice(TASKS)
        words = rng.choices(WORDS, k=rng.randint(2, 6))
        lines.append(f"{task}: {' '.join(words)} => {_answer(task, words)}")
    lines.append(" ".join(WORDS + list(NUMBER_WORDS) + list(TASKS)))
    return lines


def build_tokenizer(out_dir: str | Path, vocab_size: int = 640) -> Path:
    """Train a small byte-level BPE tokenizer locally and save it as a transformers fast tokenizer.

    Args:
        out_dir: Directory to write (`tokenizer.json`, `tokenizer_config.json`, ...).
        vocab_size: Target vocabulary size (byte alphabet + merges + special tokens).

    Returns:
        The directory the tokenizer was saved to.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    specials = [BOS_TOKEN, EOS_TOKEN, PAD_TOKEN, *ROLE_TOKENS]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=1,
        show_progress=False,
    )
    tok.train_from_iterator(_tokenizer_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=BOS_TOKEN,
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=list(ROLE_TOKENS),
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.model_max_length = 4096
    fast.save_pretrained(str(out))
    return out


_FAMILIES: dict[str, tuple[str, dict[str, Any]]] = {
    "llama": ("LlamaConfig", {}),
    "qwen2": ("Qwen2Config", {}),
    "mistral": ("MistralConfig", {"sliding_window": None}),
}


def build_tiny_model(
    out_dir: str | Path,
    family: str = "llama",
    *,
    seed: int = 0,
    tokenizer_dir: str | Path | None = None,
    hidden_size: int = 64,
    num_hidden_layers: int = 2,
    num_attention_heads: int = 4,
    num_key_value_heads: int | None = None,
    intermediate_size: int = 128,
    max_position_embeddings: int = 2048,
    initializer_range: float = 0.1,
) -> Path:
    """Save a randomly initialised tiny causal LM and its tokenizer into one directory.

    Args:
        out_dir: Directory to write.
        family: `llama`, `qwen2` or `mistral`.
        seed: Seed of the random initialisation (same seed, same weights).
        tokenizer_dir: An existing tokenizer directory (built with :func:`build_tokenizer` when None).
        hidden_size: Model width.
        num_hidden_layers: Number of decoder layers.
        num_attention_heads: Attention heads.
        num_key_value_heads: KV heads (defaults to `num_attention_heads`).
        intermediate_size: MLP width.
        max_position_embeddings: Longest position.
        initializer_range: Standard deviation of the random init. With transformers' usual 0.02 the
            output logits of a hidden-64 model span only about +-1, so adapters on a frozen head (LoRA)
            can barely move the loss; 0.1 gives a frozen head that can express the data.

    Returns:
        The directory the model was saved to.

    Raises:
        ValueError: If the family is unknown.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if family not in _FAMILIES:
        raise ValueError(f"unknown tiny model family {family!r}; choose one of {', '.join(_FAMILIES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is None:
        tokenizer_dir = build_tokenizer(out)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config_name, extra = _FAMILIES[family]
    config_cls = getattr(transformers, config_name)
    config = config_cls(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        num_key_value_heads=num_key_value_heads or num_attention_heads,
        max_position_embeddings=max_position_embeddings,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
        initializer_range=initializer_range,
        **extra,
    )
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return out


def _answer(task: str, words: list[str]) -> str:
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
        pairs.append((f"{task}: {' '.join(words)}", _answer(task, words)))
    return pairs


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
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
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
        lines.append(json.dumps(record))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


#: Topics of the labelled texts of :func:`write_labeled_dataset` (a text's words come from its topic).
LABEL_TOPICS: dict[str, tuple[str, ...]] = {
    "fruit": tuple(WORDS[0:12]),
    "color": tuple(WORDS[12:22]),
    "animal": tuple(WORDS[22:30]),
}


def build_tiny_embedding_model(
    out_dir: str | Path,
    *,
    seed: int = 0,
    tokenizer_dir: str | Path | None = None,
    hidden_size: int = 32,
    num_hidden_layers: int = 1,
    num_attention_heads: int = 2,
    intermediate_size: int = 64,
) -> Path:
    """Save a randomly initialised tiny BERT encoder with mean pooling as a sentence-transformers model.

    Args:
        out_dir: Directory to write (``SentenceTransformer(out_dir)`` loads it).
        seed: Seed of the random initialisation.
        tokenizer_dir: An existing tokenizer directory (built with :func:`build_tokenizer` when None).
        hidden_size: Encoder width (the embedding dimension).
        num_hidden_layers: Encoder layers.
        num_attention_heads: Attention heads.
        intermediate_size: MLP width.

    Returns:
        The directory the model was saved to.
    """
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Pooling, Transformer
    from transformers import AutoTokenizer, BertConfig, BertModel

    out = Path(out_dir)
    encoder_dir = out.parent / f".{out.name}-encoder"
    encoder_dir.mkdir(parents=True, exist_ok=True)
    if tokenizer_dir is None:
        tokenizer_dir = build_tokenizer(encoder_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        num_hidden_layers=num_hidden_layers,
        num_attention_heads=num_attention_heads,
        intermediate_size=intermediate_size,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(str(encoder_dir))
    tokenizer.save_pretrained(str(encoder_dir))
    encoder = Transformer(str(encoder_dir), max_seq_length=64)
    dimension = getattr(encoder, "get_embedding_dimension", None) or encoder.get_word_embedding_dimension
    pooling = Pooling(dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[encoder, pooling], device="cpu").save(str(out))
    shutil.rmtree(encoder_dir, ignore_errors=True)
    return out


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
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        topic = topics[i % len(topics)]
        words = rng.choices(LABEL_TOPICS[topic], k=rng.randint(2, 5))
        lines.append(json.dumps({"text": " ".join(words), "label": topic}))
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


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
    lines = []
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
        lines.append(json.dumps(record))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out
