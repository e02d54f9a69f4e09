"""Randomly initialised tiny models saved with their tokenizer: a causal LM (Llama, Qwen2 or Mistral
layout) and a BERT sentence encoder (torch, transformers and sentence-transformers imported inside the
functions)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from training_hub.tiny.tokenizer import load_or_build_tokenizer

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
        tokenizer_dir: An existing tokenizer directory (built with :func:`~training_hub.tiny.tokenizer.build_tokenizer` when None).
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
    from transformers import AutoModelForCausalLM

    if family not in _FAMILIES:
        raise ValueError(f"unknown tiny model family {family!r}; choose one of {', '.join(_FAMILIES)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = load_or_build_tokenizer(tokenizer_dir, out)
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
        tokenizer_dir: An existing tokenizer directory (built with :func:`~training_hub.tiny.tokenizer.build_tokenizer` when None).
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
    from transformers import BertConfig, BertModel

    out = Path(out_dir)
    encoder_dir = out.parent / f".{out.name}-encoder"
    encoder_dir.mkdir(parents=True, exist_ok=True)
    tokenizer = load_or_build_tokenizer(tokenizer_dir, encoder_dir)
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
