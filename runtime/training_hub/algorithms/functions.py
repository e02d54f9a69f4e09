"""The convenience functions :func:`sft`, :func:`osft` and :func:`lora_sft` (and ``dpo``'s, built alike).

Their keyword-only parameters are the fields of the models in :mod:`training_hub.params`, one definition:
:func:`algorithm_function` builds each function's signature (``inspect.signature``, ``help()``) and the
``Args`` section of its docstring from the model, so no keyword list is written out again (upstream's
functions write theirs by hand; ``tests/compat`` checks that every upstream keyword is in ours).
``None`` means "not set": the model's default applies. An unknown keyword is an error naming the closest
parameters.

Static tools cannot see a signature built at import time: ``functions.pyi`` and ``dpo.pyi`` spell the same
signatures out for IDEs and type checkers, generated from the models by :mod:`training_hub.algorithms.stubs`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, cast

from training_hub.algorithms.base import Callbacks, run_algorithm
from training_hub.algorithms.validation import check_keywords
from training_hub.errors import InvalidInputError
from training_hub.params import HYPERPARAMETER_MODELS, param_model


def _args_section(algorithm: str) -> str:
    lines = ["Args:"]
    for name, field in param_model(algorithm).model_fields.items():
        default = "required" if field.is_required() else f"default {field.default!r}"
        lines.append(f"    {name}: {field.description or ''} ({default})")
    lines.append("    callbacks: Training callbacks passed to the engine (in-process training only).")
    return "\n".join(lines)


def algorithm_signature(algorithm: str) -> inspect.Signature:
    """Keyword-only parameters: the model's required fields, then the others, hyperparameters first (default
    ``None``: not set; ``backend``, last, keeps its default), then ``callbacks``."""
    fields = param_model(algorithm).model_fields
    kw = inspect.Parameter.KEYWORD_ONLY
    required = [
        inspect.Parameter(name, kw, annotation=f.annotation) for name, f in fields.items() if f.is_required()
    ]
    tuned = list(HYPERPARAMETER_MODELS[algorithm].model_fields)  # hyperparameters first, backend last
    names = [name for name, f in fields.items() if not f.is_required()]
    names.sort(key=lambda n: (n == "backend", n not in tuned, list(fields).index(n)))
    optional = [
        inspect.Parameter(
            name,
            kw,
            default=fields[name].default if name == "backend" else None,
            annotation=fields[name].annotation
            if name == "backend"
            else cast(Any, fields[name].annotation) | None,
        )
        for name in names
    ]
    callbacks = inspect.Parameter("callbacks", kw, default=None, annotation=Callbacks)
    return inspect.Signature([*required, *optional, callbacks], return_annotation=Any)


def algorithm_function(algorithm: str, summary: str, module: str = __name__) -> Callable[..., Any]:
    """The public function of ``algorithm``: keyword-only, names checked, readable errors, generated doc.

    Args:
        algorithm: Key of :func:`training_hub.params.param_model`.
        summary: The docstring's text above the generated ``Args`` section.
        module: The module the function is documented in.
    """

    def function(*args: Any, **kwargs: Any) -> Any:
        if args:
            raise InvalidInputError(
                f"{algorithm}() takes keyword arguments only (e.g. model_path=...), got {len(args)} positional"
            )
        check_keywords(algorithm, kwargs, extra=("callbacks",))
        callbacks = kwargs.pop("callbacks", None)
        return run_algorithm(algorithm, kwargs, callbacks=callbacks)  # validates the values, once

    function.__name__ = function.__qualname__ = algorithm
    function.__module__ = module
    function.__doc__ = f"{inspect.cleandoc(summary)}\n\n{_args_section(algorithm)}\n"
    function.__signature__ = algorithm_signature(algorithm)  # type: ignore[attr-defined]
    return function


sft = algorithm_function(
    "sft",
    """Supervised fine-tuning: every weight of the model trains on the data.

    Runs on the ``native`` backend (portable, CPU or GPU) or ``instructlab-training`` (upstream engine, CUDA).
    With ``nproc_per_node`` > 1 (or ``nnodes`` > 1) from a plain Python process, training is launched under
    torchrun automatically.

    Returns:
        The backend's result (native: a dict with at least the output directory).
    """,
)

osft = algorithm_function(
    "osft",
    """Orthogonal Subspace Fine-Tuning: continual learning that keeps the model's prior behaviour.

    Runs on the ``native`` backend (portable) or ``mini-trainer`` (upstream engine, CUDA).

    Returns:
        The backend's result.
    """,
)

lora_sft = algorithm_function(
    "lora_sft",
    """LoRA adapters trained on a frozen base model (supervised fine-tuning).

    Runs on the ``peft`` backend (portable, the native engine with PEFT adapters) or ``unsloth`` (CUDA).

    Returns:
        The backend's result.
    """,
)
