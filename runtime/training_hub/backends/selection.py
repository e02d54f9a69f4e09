"""``backend='auto'``: pick an engine that can run this exact run, and say why.

"Importable and CUDA present" is not enough: instructlab-training refuses ``max_steps`` and raises on GPUs
other than SM 8.x / 9.0 or without flash-attn (``instructlab/training/model.py``:
``check_flash_attn_enabled``; the adapter never sets ``disable_flash_attn``); unsloth trains on one GPU
only, and the operator always starts ``nproc_per_node`` processes; mini-trainer gathers layers in bf16
(``MixedPrecisionPolicy(param_dtype=bfloat16)``), which needs native bf16. An upstream engine is chosen
only when its package is installed, the hardware suits it and its adapter accepts every parameter of the
run (the adapter's own ``translate`` is the check, so the two never disagree); else the portable backend,
with each skipped engine's reason.

The same function serves the pod (the probed hardware and installed packages) and the operator's planner
(the hardware a TrainingRun asks for and the packages of the runtime image), so the plan models the engine
that will run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from training_hub.errors import BackendUnavailableError, InvalidInputError
from training_hub.hardware import Hardware, module_importable

#: Module each upstream engine imports as.
ENGINE_MODULES: dict[str, str] = {
    "instructlab-training": "instructlab.training",
    "mini-trainer": "mini_trainer",
    "unsloth": "unsloth",
}

#: Other modules an engine needs (mini-trainer's data processing comes from instructlab-training).
ENGINE_NEEDS: dict[str, tuple[str, ...]] = {"mini-trainer": ("instructlab.training",)}

#: What the project's runtime image (``images/runtime/Dockerfile``, ``GPU_EXTRAS=cuda``) installs; the
#: ``unsloth`` variant of the image has unsloth instead of mini-trainer. The planner assumes this image.
RUNTIME_IMAGE_MODULES: frozenset[str] = frozenset(
    {"instructlab.training", "mini_trainer", "flash_attn", "liger_kernel"}
)


@dataclass(frozen=True)
class BackendChoice:
    """The chosen backend and why.

    Attributes:
        name: Backend name.
        reason: One sentence: why this one.
        skipped: ``engine: reason`` for each upstream engine that cannot run this run.
    """

    name: str
    reason: str
    skipped: tuple[str, ...] = ()


def _translate(name: str) -> Callable[[dict[str, Any]], Any] | None:
    if name == "instructlab-training":
        from training_hub.backends.instructlab import translate as ilab

        return ilab
    if name == "mini-trainer":
        from training_hub.backends.mini_trainer import translate as mini

        return lambda params: mini(params)
    if name == "unsloth":
        from training_hub.backends.unsloth import translate as unsloth

        return unsloth
    return None


def missing_modules(name: str, installed: Callable[[str], bool] = module_importable) -> list[str]:
    """The modules upstream engine ``name`` needs that are not importable (empty for other backends)."""
    module = ENGINE_MODULES.get(name)
    needed = [module, *ENGINE_NEEDS.get(name, ())] if module is not None else []
    return [m for m in needed if not installed(m)]


def hardware_blockers(name: str, hardware: Hardware, params: Mapping[str, Any]) -> list[str]:
    """Why ``name`` cannot run on ``hardware`` (empty when it can)."""
    out: list[str] = []
    if name not in ENGINE_MODULES:
        return out
    if not hardware.cuda:
        return [f"{name} needs a CUDA GPU and none is available"]
    cap = hardware.capability
    if name == "instructlab-training":
        if not hardware.flash_attn:
            out.append("instructlab-training uses flash-attn (flash_attention_2) and it is not installed")
        if cap is not None and not (cap[0] == 8 or cap == (9, 0)):
            out.append(
                f"instructlab-training runs flash-attn only on SM 8.x/9.0 and this GPU is SM {cap[0]}.{cap[1]}"
            )
    if name == "mini-trainer" and not hardware.bf16:
        out.append("mini-trainer gathers layers in bfloat16 and this GPU has no native bf16 (SM 8.0+)")
    if name == "unsloth" and params.get("bf16") is not False and not hardware.bf16:
        out.append("unsloth trains in bf16 here and this GPU has no native bf16 (set bf16=False)")
    if name == "instructlab-training" and not hardware.bf16:
        out.append("instructlab-training always trains in bfloat16 and this GPU has no native bf16")
    return out


def parameter_blockers(name: str, algorithm: str, params: Mapping[str, Any]) -> list[str]:
    """The parameters ``name``'s adapter refuses (its ``translate`` is the check).

    Parameters invalid for the algorithm itself are not an engine's problem (every backend refuses them,
    and validation reports them): they block nothing here.
    """
    from training_hub.algorithms.validation import validated

    translate = _translate(name)
    if translate is None:
        return []
    try:
        valid = validated(algorithm, params)  # the ValidatedParams of run_algorithm: not checked again
    except InvalidInputError:
        return []
    adapter_log = logging.getLogger("training_hub")
    level = adapter_log.level
    adapter_log.setLevel(logging.ERROR)  # the adapter's notes about defaults are for the run, not the probe
    try:
        translate(valid)
    except InvalidInputError as exc:
        lines = [ln.strip(" -") for ln in str(exc).splitlines()[1:] if ln.strip().startswith("-")]
        return lines or [str(exc).splitlines()[0]]
    finally:
        adapter_log.setLevel(level)
    return []


def select_backend(
    algorithm: str,
    params: Mapping[str, Any],
    hardware: Hardware,
    installed: Callable[[str], bool] = module_importable,
) -> BackendChoice:
    """The backend ``auto`` resolves to for this run on this hardware.

    Args:
        algorithm: ``sft``, ``osft``, ``lora_sft``...
        params: The run's parameters (training_hub names; torchrun fields included where known).
        hardware: The accelerator (probed, or planned by the operator).
        installed: Whether a module is importable (default: on this machine).

    Raises:
        BackendUnavailableError: No backend of the algorithm can run.
    """
    from training_hub.algorithms.base import AlgorithmRegistry

    names = AlgorithmRegistry.list_backends(algorithm)
    classes = {n: AlgorithmRegistry.get_backend(algorithm, n) for n in names}
    skipped: list[str] = []
    for name, cls in classes.items():
        if cls.portable:
            continue
        module = ENGINE_MODULES.get(name)
        missing = missing_modules(name, installed)
        if missing:
            skipped.append(f"{name}: {name} is not installed ({', '.join(missing)})")
            continue
        if module is None:
            reason = cls.unavailable_reason()
            if reason:
                skipped.append(f"{name}: {reason}")
                continue
        blockers = hardware_blockers(name, hardware, params) + parameter_blockers(name, algorithm, params)
        if blockers:
            skipped.append(f"{name}: {'; '.join(blockers)}")
            continue
        return BackendChoice(
            name,
            f"{name} is installed, runs on {hardware.describe()} and accepts every parameter",
            tuple(skipped),
        )
    for name, cls in classes.items():
        if cls.portable:
            why = "; ".join(skipped) if skipped else "no other backend is registered"
            return BackendChoice(name, f"portable backend ({why})", tuple(skipped))
    raise BackendUnavailableError(f"no backend of {algorithm} can run here: {'; '.join(skipped)}")
