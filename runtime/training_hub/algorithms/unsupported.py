"""Upstream training_hub 0.11.2's reinforcement-learning and prompt-optimisation API, which cannot run here.

``lora_grpo`` / ``grpo`` (GRPO through ART or verl) generate rollouts with a vLLM server on CUDA GPUs while
training; ``gepa`` optimises prompts by calling a served language model (the ``gepa`` package, or MLflow's
GEPA optimiser). Neither is fine-tuning on this project's engines. The functions and classes exist with
upstream's signatures so that upstream scripts import and their keywords are checked (unknown keywords are
errors naming the closest); calling them raises :class:`~training_hub.errors.BackendUnavailableError`
naming what is missing and the alternative. Nothing here imports a third-party package.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from training_hub.algorithms.base import Algorithm, Backend, Callbacks
from training_hub.algorithms.validation import unknown_keywords_message
from training_hub.errors import BackendUnavailableError, InvalidInputError


class Unavailability(NamedTuple):
    """Why an upstream entry point cannot run here, and what to use instead."""

    missing: str
    alternative: str


GRPO = Unavailability(
    missing="GRPO needs a vLLM rollout server and a CUDA GPU training engine (upstream's `art` or `verl` "
    "backend), which this project does not have",
    alternative="for preference tuning use `dpo()` (offline pairs); for supervised data `lora_sft()` / `sft()`",
)
GEPA = Unavailability(
    missing="GEPA optimises prompts by calling a served language model (the `gepa` package or MLflow's GEPA "
    "optimiser); it is not model training and this project does not provide it",
    alternative="run the `gepa` package directly against your model endpoint, or fine-tune with `sft()`",
)


def unavailable(what: str, why: Unavailability) -> BackendUnavailableError:
    """The error every entry point of this module raises once its keywords are valid."""
    return BackendUnavailableError(f"{what} cannot run here: {why.missing}. Instead: {why.alternative}.")


def _check_call(
    function: Callable[..., Any], kwargs: dict[str, Any], choices: dict[str, tuple[str, ...]]
) -> None:
    """Reject keywords ``function`` does not name (``None`` values are "not set") and values outside
    ``choices``."""
    known = [n for n, p in inspect.signature(function).parameters.items() if p.kind is not p.VAR_KEYWORD]
    unknown = [k for k, v in kwargs.items() if v is not None and k not in known]
    if unknown:
        raise InvalidInputError(unknown_keywords_message(f"{function.__name__}()", unknown, known))
    for name, allowed in choices.items():
        value = kwargs.get(name)
        if value is not None and value not in allowed:
            raise InvalidInputError(f"{function.__name__}(): {name}={value!r} is not one of {list(allowed)}")


class _UnavailableBackend(Backend):
    """A backend of upstream's that cannot run here: :meth:`execute_training` raises.

    A subclass names itself and why in its class keywords: ``class X(_UnavailableBackend, name=..., why=...)``.
    """

    why: ClassVar[Unavailability]

    def __init_subclass__(cls, *, name: str, why: Unavailability, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.name = name
        cls.why = why

    def __init__(self, algorithm: str = "") -> None:
        super().__init__(algorithm)

    @classmethod
    def unavailable_reason(cls) -> str | None:
        return cls.why.missing

    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        raise unavailable(f"backend {self.name!r}", self.why)


# One class per backend that upstream exports by name (so ``isinstance`` and the registry see upstream's
# classes); what they differ in is their class keywords.
class ARTLoRAGRPOBackend(_UnavailableBackend, name="art", why=GRPO):
    """Upstream's ART (OpenPipe) GRPO backend: not available here."""


class VeRLLoRAGRPOBackend(_UnavailableBackend, name="verl", why=GRPO):
    """Upstream's verl GRPO backend: not available here."""


class GEPABackend(_UnavailableBackend, name="gepa", why=GEPA):
    """Upstream's GEPA prompt-optimisation backend: not available here."""


class MLflowGEPABackend(_UnavailableBackend, name="mlflow", why=GEPA):
    """Upstream's MLflow GEPA backend: not available here."""


class _UnavailableAlgorithm(Algorithm):
    """An algorithm of upstream's that cannot run here: ``train`` checks the keywords, then raises."""

    function: ClassVar[Callable[..., Any]]
    required: ClassVar[tuple[str, ...]] = ()

    def train(self, **kwargs: Any) -> Any:
        kwargs.pop("backend", None)
        _check_call(type(self).function, kwargs, {})
        return self.backend.execute_training(kwargs)

    def get_required_params(self) -> dict[str, Any]:
        params = inspect.signature(type(self).function).parameters
        return {n: params[n].annotation for n in self.required}

    def get_optional_params(self) -> dict[str, Any]:
        params = inspect.signature(type(self).function).parameters
        skip = {*self.required, "backend", "kwargs"}
        return {n: p.annotation for n, p in params.items() if n not in skip}


# The three signatures below are upstream's, parameter for parameter and in its order (tests/compat compares
# them with the sdist's), so that IDEs, static tools and ``inspect.signature`` show them: ``grpo`` repeats
# most of ``lora_grpo``'s keywords, and the tracker keywords close each list as they do upstream.
def lora_grpo(
    model_path: str,
    ckpt_output_dir: str,
    data_path: str | None = None,
    data_config: str = "Qwen3",
    n_train: int = 5000,
    n_val: int = 500,
    rollout_fn: Callable[..., Any] | None = None,
    tasks: list[Any] | None = None,
    reward_fn: Callable[..., Any] | None = None,
    num_iterations: int = 15,
    group_size: int = 8,
    prompt_batch_size: int = 100,
    learning_rate: float = 1e-05,
    temperature: float = 0.7,
    max_tokens: int = 512,
    max_prompt_length: int = 16384,
    concurrency: int = 32,
    lora_r: int = 16,
    lora_alpha: int = 8,
    target_modules: list[str] | None = None,
    max_grad_norm: float = 0.1,
    gpu_memory_utilization: float = 0.45,
    max_lora_rank: int | None = None,
    enforce_eager: bool = False,
    n_gpus: int = 1,
    nnodes: int = 1,
    tensor_parallel_size: int = 1,
    use_dr_grpo: bool = True,
    backend: str = "verl",
    iteration_callback: Callable[..., Any] | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """LoRA + GRPO reinforcement learning (upstream's signature and defaults). Not available here.

    Raises:
        InvalidInputError: An unknown keyword, or ``backend`` other than ``verl`` / ``art``.
        BackendUnavailableError: Always, once the keywords are valid (no vLLM / GPU GRPO engine here).
    """
    _check_call(lora_grpo, kwargs, {})
    _check_call(lora_grpo, {"backend": backend}, {"backend": ("verl", "art")})
    raise unavailable(f"lora_grpo(backend={backend!r})", GRPO)


def grpo(
    model_path: str,
    ckpt_output_dir: str,
    data_path: str | None = None,
    data_config: str = "Qwen3",
    n_train: int = 5000,
    n_val: int = 500,
    reward_fn: Callable[..., Any] | None = None,
    num_iterations: int = 15,
    group_size: int = 8,
    prompt_batch_size: int = 100,
    learning_rate: float = 1e-05,
    temperature: float = 0.7,
    max_tokens: int = 512,
    max_prompt_length: int = 16384,
    gpu_memory_utilization: float = 0.45,
    n_gpus: int = 1,
    nnodes: int = 1,
    tensor_parallel_size: int = 1,
    use_dr_grpo: bool = True,
    iteration_callback: Callable[..., Any] | None = None,
    wandb_project: str | None = None,
    wandb_entity: str | None = None,
    wandb_run_name: str | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    mlflow_run_name: str | None = None,
    **kwargs: Any,
) -> Any:
    """Full-parameter GRPO through verl (upstream's signature and defaults). Not available here.

    Raises:
        InvalidInputError: An unknown keyword.
        BackendUnavailableError: Always, once the keywords are valid.
    """
    _check_call(grpo, kwargs, {})
    raise unavailable("grpo()", GRPO)


def gepa(
    seed_candidate: dict[str, str],
    task_lm: str,
    data_path: str | None = None,
    trainset: list[dict[str, Any]] | None = None,
    valset: list[dict[str, Any]] | None = None,
    output_dir: str | None = None,
    backend: str = "gepa",
    evaluator: Callable[..., Any] | None = None,
    reflection_lm: str | None = None,
    api_base: str | None = None,
    max_metric_calls: int | None = None,
    candidate_selection_strategy: str | None = None,
    frontier_type: str | None = None,
    skip_perfect_score: bool | None = None,
    perfect_score: float | None = None,
    reflection_minibatch_size: int | None = None,
    seed: int | None = None,
    adapter: Any | None = None,
    run_dir: str | None = None,
    use_wandb: bool | None = None,
    wandb_api_key: str | None = None,
    wandb_init_kwargs: dict[str, Any] | None = None,
    use_mlflow: bool | None = None,
    mlflow_tracking_uri: str | None = None,
    mlflow_experiment_name: str | None = None,
    batch_sampler: Any | None = None,
    reflection_prompt_template: str | dict[str, str] | None = None,
    custom_candidate_proposer: Any | None = None,
    module_selector: str | None = None,
    use_merge: bool | None = None,
    stop_callbacks: Any | None = None,
    callbacks: list[Any] | None = None,
    display_progress_bar: bool | None = None,
    cache_evaluation: bool | None = None,
    raise_on_exception: bool | None = None,
    predict_fn: Callable[..., Any] | None = None,
    prompt_uris: list[str] | None = None,
    scorers: list[Any] | None = None,
    aggregation: Callable[..., Any] | None = None,
    enable_tracking: bool | None = None,
    gepa_kwargs: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    """GEPA prompt optimisation (upstream's signature and defaults). Not available here.

    Raises:
        InvalidInputError: An unknown keyword, or ``backend`` other than ``gepa`` / ``mlflow``.
        BackendUnavailableError: Always, once the keywords are valid.
    """
    _check_call(gepa, kwargs, {})
    _check_call(gepa, {"backend": backend}, {"backend": ("gepa", "mlflow")})
    raise unavailable(f"gepa(backend={backend!r})", GEPA)


class LoRAGRPOAlgorithm(_UnavailableAlgorithm):
    """Upstream's LoRA + GRPO algorithm class: keywords of :func:`lora_grpo`; training raises."""

    function = staticmethod(lora_grpo)
    required = ("model_path", "ckpt_output_dir")


class GEPAAlgorithm(_UnavailableAlgorithm):
    """Upstream's GEPA algorithm class: keywords of :func:`gepa`; training raises."""

    function = staticmethod(gepa)
    required = ("seed_candidate", "task_lm")


@dataclass(eq=False)  # compared and hashed by identity, as upstream's class
class ITSRollout:
    """Upstream's inference-time-scaling rollout adapter for :func:`lora_grpo` (its_hub on a vLLM server).

    It can be built with upstream's arguments (scripts that define one import and construct it), but it only
    runs inside GRPO training, which this project does not have: calling it raises.
    """

    algorithm_factory: Callable[..., Any]
    budget: int
    reward_fn: Callable[[str, dict[str, Any]], float]
    message_key: str = "messages"
    temperature: float | None = None
    max_tokens: int | None = None
    max_concurrency: int = 32

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise InvalidInputError(f"ITSRollout: budget must be at least 1, got {self.budget}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise unavailable("ITSRollout", GRPO._replace(missing=f"{GRPO.missing} (and the its_hub package)"))
