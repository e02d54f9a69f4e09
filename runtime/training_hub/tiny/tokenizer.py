"""A small byte-level BPE tokenizer trained here with `tokenizers`, saved as a `transformers` fast
tokenizer with bos/eos/pad tokens and a Jinja chat template (transformers imported inside the functions)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from training_hub.tiny.tasks import NUMBER_WORDS, TASKS, WORDS, answer

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
        lines.append(f"{task}: {' '.join(words)} => {answer(task, words)}")
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


def load_or_build_tokenizer(tokenizer_dir: str | Path | None, build_in: Path) -> Any:
    """The transformers tokenizer saved in ``tokenizer_dir``; when None, one built with
    :func:`build_tokenizer` into ``build_in`` first."""
    from transformers import AutoTokenizer

    if tokenizer_dir is None:
        tokenizer_dir = build_tokenizer(build_in)
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))
