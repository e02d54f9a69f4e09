"""What this package provides of upstream training_hub 0.11.2's public API, and where it differs on purpose.

Upstream's names are listed in :mod:`training_hub.upstream_api`; this module holds their status here (what
raises, remarks, upstream's example scripts, differences, notes) and renders ``docs/compatibility.md`` from
both (``python -m training_hub.compatibility --write``). ``tests/compat`` checks the upstream lists against
the published sdist (read with ``ast``), checks that the page is current, and gives each difference a named
test.
"""

from __future__ import annotations

import sys
from pathlib import Path

from training_hub.upstream_api import UPSTREAM_EXPORTS, UPSTREAM_KEYWORDS, UPSTREAM_VERSION

#: Upstream exports that exist here (upstream's signature, keywords checked) but raise when run, with why.
RAISES: dict[str, str] = {
    "lora_grpo": (
        "GRPO needs a vLLM rollout server and a GPU RL engine (ART or verl): raises BackendUnavailableError "
        "after checking its keywords; use `dpo()` for preference tuning"
    ),
    "grpo": "as `lora_grpo`",
    "LoRAGRPOAlgorithm": "as `lora_grpo` (`train()` checks the keywords, then raises)",
    "ARTLoRAGRPOBackend": "as `lora_grpo` (`execute_training` raises)",
    "VeRLLoRAGRPOBackend": "as `lora_grpo` (`execute_training` raises)",
    "gepa": (
        "GEPA prompt optimisation calls a served model (the `gepa` package / MLflow), not training: raises "
        "BackendUnavailableError after checking its keywords"
    ),
    "GEPAAlgorithm": "as `gepa` (`train()` checks the keywords, then raises)",
    "GEPABackend": "as `gepa` (`execute_training` raises)",
    "MLflowGEPABackend": "as `gepa` (`execute_training` raises)",
    "ITSRollout": "constructs with upstream's arguments; calling it raises (it runs only inside GRPO)",
}

#: Upstream exports provided with a remark.
EXPORT_NOTES: dict[str, str] = {
    "merge_default_callbacks": (
        "same list as upstream (JIT and mirror callbacks first for backends other than sft/osft); the "
        "training functions here do not need it"
    ),
    "tool_call_reward": "same scoring (1.0 / 0.5 / 0.0), usable outside GRPO",
    "binary_reward": "same",
    "JITCheckpointCallback": (
        "drives the engine: SIGTERM -> `control.should_save` + `should_training_stop` at the next step end -> "
        "full resumable checkpoint, `on_save`, exit as preempted (the engine does this itself with "
        "`enable_jit_checkpoint=True`)"
    ),
    "RemoteCheckpointSyncCallback": (
        "uploads each saved checkpoint to `$TRAINING_HUB_CHECKPOINT_UPLOAD_URI` with this project's mirror "
        "(the engine does this itself with `checkpoint_storage`; a checkpoint it mirrors to the same URI is "
        "not uploaded twice, `on_save`'s `mirrored_to`)"
    ),
}


#: Upstream's ``examples/scripts/*.py`` (0.11.2 sdist): ``None`` where the script runs unchanged here on CPU
#: (only its command-line flags point it at a tiny model and data; ``tests/compat/test_upstream_examples.py``
#: runs each), else why it cannot.
UPSTREAM_EXAMPLES: dict[str, str | None] = {
    "callback_smoke_instructlab": None,
    "callback_smoke_mini_trainer": None,
    "callback_smoke_unsloth": None,
    "interpolator": None,
    "its_rollout_example": "GRPO with its_hub rollouts on vLLM: `lora_grpo` raises naming what is missing",
    "lab_multiphase_training": None,
    "lora_example": "hard-codes `bf16=True`: a CUDA GPU (upstream's unsloth backend is GPU-only too)",
    "lora_grpo_example": "GRPO through verl/ART on vLLM: `lora_grpo` raises naming what is missing",
    "lora_ministral_medical_example": "hard-codes `bf16=True`: a CUDA GPU",
    "osft_continual_learning_example": "`--use-liger` defaults to on and cannot be turned off: Liger is GPU-only",
    "osft_cpt_spreadsheet_example": "hard-codes `use_liger=True`: Liger kernels are GPU-only",
    "osft_gpt_oss_example": (
        "passes mini-trainer's `osft_memory_efficient_init` as an extra keyword: an error here (unknown "
        "keywords are errors; upstream hands them to mini-trainer)"
    ),
    "osft_granite_example": "hard-codes `use_liger=True`: Liger kernels are GPU-only",
    "osft_llama_example": "hard-codes `use_liger=True`: Liger kernels are GPU-only",
    "osft_ministral_medical_example": None,
    "osft_mlflow_example": None,
    "osft_multiphase_training": None,
    "osft_phi_example": "hard-codes `use_liger=True`: Liger kernels are GPU-only",
    "osft_qwen35_medical_example": None,
    "osft_qwen_example": "hard-codes `use_liger=True`: Liger kernels are GPU-only",
    "sft_cpt_spreadsheet_example": None,
    "sft_gpt_oss_example": None,
    "sft_granite4_example": "imports `instructlab.training.FSDPOptions`: needs the instructlab-training package",
    "sft_granite_example": None,
    "sft_llama_example": None,
    "sft_ministral_medical_example": None,
    "sft_mlflow_example": None,
    "sft_phi_example": None,
    "sft_qwen35_medical_example": None,
    "sft_qwen_example": None,
}


#: Upstream names whose behaviour here differs on purpose (each has a named test in tests/compat).
DIFFERENCES: dict[str, str] = {
    "backend": (
        "default `auto` (upstream: the CUDA engine): the upstream engine when it is installed and CUDA is "
        "present, else the portable backend"
    ),
    "**kwargs": (
        "unknown keywords are errors naming the closest parameters (upstream passes them to the engine)"
    ),
    "accelerate_full_state_at_epoch": (
        "native: the resumable full state is saved with every checkpoint whatever the value"
    ),
    "sample_packing": (
        "native/peft: always packed padding-free with per-sample attention, so both values train the same"
    ),
    "logging_steps": "native/peft: the metrics file and trackers get every step",
    "trust_remote_code": (
        "native/peft: true is an error (built-in architectures only); estimate: accepted, nothing runs"
    ),
    "pretraining role": (
        "a `messages` sample with the legacy `pretraining` role trains every role but system, rendered by "
        "the chat template"
    ),
}


#: Keywords whose meaning here needs a word (same meaning as upstream).
NOTES: dict[str, str] = {
    "micro_batch_size": "same: sets `effective_batch_size` = micro x accumulation x processes when not given",
    "gradient_accumulation_steps": "same: see `micro_batch_size`",
    "save_steps": "same: a checkpoint every N steps (`save_samples` = N x `effective_batch_size`)",
    "dataset_type": "same for `chat_template` and `alpaca`; `passthrough`: an error (no backend here has it)",
    "field_messages": (
        "same: the file's key of the messages. `lora_sft` trains `messages` samples as upstream does: the "
        "whole text the chat template renders, every token (system prompt and role headers included); "
        "`unmask_roles` (ours) trains the chosen roles only"
    ),
    "field_instruction": "same: the file's key of the instruction",
    "field_input": "same: the file's key of the input",
    "field_output": "same: the file's key of the output",
    "document_column_name": "same: the file's key of pretraining documents",
    "unmask_messages": "same: every role but system trains (exclusive with `unmask_roles`)",
    "checkpoint_storage": "same: fsspec mirror with completion markers (docs/storage.md)",
    "enable_jit_checkpoint": (
        "same: unset or false is off (upstream's default); true: on SIGTERM a full checkpoint after the "
        "current step, exit 143, the next run resumes (a TrainingRun's pods set it to true)"
    ),
    "eval_data_path": "same (docs/trackers-and-eval.md)",
    "checkpoint_at_epoch": "same; unset on mini-trainer: mini-trainer's default (off), as upstream",
    "bf16": "same; unset on mini-trainer: mini-trainer's dtype choice, as upstream",
}


def keyword_status(function: str, keyword: str) -> str:
    """One line saying what ``keyword`` of upstream's ``function`` does here."""
    from training_hub.backends.native_upstream import NATIVE_LIMITS
    from training_hub.params import UPSTREAM_RENAMES

    if keyword in DIFFERENCES:
        return f"accepted; differs: {DIFFERENCES[keyword]}"
    if keyword in UPSTREAM_RENAMES:
        return f"accepted, same as `{UPSTREAM_RENAMES[keyword]}`"
    if keyword in NATIVE_LIMITS:
        allowed, instead, other = NATIVE_LIMITS[keyword]
        shown = ", ".join(repr(v) for v in allowed)
        where = f"`{other}`: passed on" if other else "no backend here has it"
        return f"{where}; native/peft: {shown} only (it {instead}), else an error"
    if keyword in NOTES:
        return NOTES[keyword]
    if keyword == "callbacks":
        return "same: `TrainingHubCallback` instances, every backend"
    if keyword == "loss_fn":
        return "same: a sentence-transformers loss object"
    return "same"


def render_markdown() -> str:
    """The text of ``docs/compatibility.md``."""
    from training_hub import __all__ as ours

    lines = [
        "<!-- GENERATED by `python -m training_hub.compatibility --write`. Do not edit. -->",
        "# Compatibility with upstream training_hub",
        "",
        f"This library is a drop-in for [training_hub](https://pypi.org/project/training-hub/) "
        f"{UPSTREAM_VERSION}: a script written for it runs unchanged (README's library section is one, run "
        "by a test). `tests/compat` reads the published sdist (its `__all__` and the keyword lists of its "
        "functions, with `ast`), calls every function with upstream's full keyword list (values and "
        "`None`), trains a step on a tiny model where a keyword changes training, runs upstream's own "
        "`tests/test_callbacks.py` against this package, and gives each difference below a named test.",
        "",
        'Rules: `None` always means "not set". A value the chosen backend cannot honour is an error that '
        "names the backend that has it. Where our default differed, upstream's default wins for upstream's "
        "name. Unknown keywords are errors (upstream passes them to its engine).",
        "",
        "## Exports (`from training_hub import ...`)",
        "",
        "| Name | Status |",
        "|---|---|",
    ]
    for name in UPSTREAM_EXPORTS:
        if name not in ours:
            status = "MISSING"
        elif name in RAISES:
            status = f"importable; cannot run here: {RAISES[name]}"
        else:
            status = f"provided: {EXPORT_NOTES[name]}" if name in EXPORT_NOTES else "provided"
        lines.append(f"| `{name}` | {status} |")
    lines += [
        "",
        "Also: `training_hub.callbacks` (`TrainingHubCallback`, `TrainingHubContext`, `TrainingHubControl`, "
        "`merge_default_callbacks`) and `training_hub.adapters` (`serialize`, `distributed`, `unsloth`, "
        "`instructlab`, `mini_trainer`) with upstream's module and function names.",
    ]
    for function, keywords in UPSTREAM_KEYWORDS.items():
        lines += ["", f"## `{function}()` keywords", "", "| Keyword | Here |", "|---|---|"]
        lines += [f"| `{kw}` | {keyword_status(function, kw)} |" for kw in keywords]
    runs = [f"`{n}`" for n, why in UPSTREAM_EXAMPLES.items() if why is None]
    lines += [
        "",
        "## Upstream's example scripts",
        "",
        f"Run unchanged on CPU by `tests/compat/test_upstream_examples.py` (only their flags point them at a "
        f"tiny model and data): {', '.join(runs)}. The others cannot run here:",
        "",
        "| Script | Why not |",
        "|---|---|",
    ]
    lines += [f"| `{n}` | {why} |" for n, why in UPSTREAM_EXAMPLES.items() if why is not None]
    lines += [
        "",
        "## `estimate()` and the estimator classes",
        "",
        'Upstream\'s signature and defaults (`training_method="sft"`, `num_gpus=8`, `gpu_memory` 80 GiB, '
        "`model_path` Granite 3.3 8B, `verbose=1`, `trust_remote_code=False`, `unfreeze_rank_ratio=0.25`, "
        "`lora_r=32`); `osft-e` is a deprecated alias of `osft`; the token budget is "
        "`batch_size * max_seq_len / num_gpus` capped by `max_tokens_per_gpu`, as upstream. The numbers "
        "come from this project's config-only estimator (docs/estimator.md); only `config.json` is read, "
        "so `trust_remote_code` has nothing to run.",
        "",
        "## Other differences",
        "",
        "| Where | Difference |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {text} |" for name, text in DIFFERENCES.items()]
    lines += [
        "| OSFT checkpoints | the native engine writes `hf_format/samples_<N>`; after training it adds "
        "mini-trainer's `hf_format/samples_<N>.0` names (hard links, also for the final model) that upstream's "
        "scripts glob for |",
        "| `lora_sft` on `peft` | the adapter is at `ckpt_output_dir` and in `checkpoint-<step>/` as upstream, "
        "and in `hf_format/`; `result['trainer']` is `None` (no Hugging Face Trainer), `model`/`tokenizer` "
        "load from the final adapter on access |",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``--write``: regenerate docs/compatibility.md; else print it."""
    args = sys.argv[1:] if argv is None else argv
    text = render_markdown()
    if "--write" in args:
        target = Path(__file__).resolve().parents[2] / "docs" / "compatibility.md"
        target.write_text(text)
        print(f"wrote {target}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
