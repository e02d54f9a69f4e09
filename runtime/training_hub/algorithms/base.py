"""Strategy + Registry: the :class:`Algorithm` and :class:`Backend` base classes and their registry.

Same shape as upstream training_hub: an algorithm validates its parameters and hands them to a backend's
``execute_training(params)``; :class:`AlgorithmRegistry` maps algorithm names to classes and, per algorithm,
kebab-case backend names to backend classes; :func:`create_algorithm` builds one.

Here the pydantic models of :mod:`training_hub.params` define every algorithm's parameters:
:class:`ParamsAlgorithm` derives ``get_required_params()`` / ``get_optional_params()`` from them and
validates through them, so no list of names is written twice.
"""

from __future__ import annotations

import inspect
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, ClassVar

from pydantic import BaseModel

from training_hub.algorithms.validation import ValidatedParams, suggest, validate, validated
from training_hub.errors import BackendUnavailableError, InvalidInputError
from training_hub.params import param_model

logger = logging.getLogger("training_hub")

#: What callers may pass as ``callbacks``: callables or objects the engine understands.
Callbacks = Sequence[Any] | None


class Backend(ABC):
    """Runs one algorithm with one training engine.

    Subclasses implement :meth:`execute_training`. Parameter names are translated into the engine's names
    inside the backend (in one function per backend).

    Attributes:
        algorithm: Name of the algorithm this instance serves (a backend class may serve several).
        name: The backend's registered kebab-case name.
        portable: True when it runs anywhere (CPU included): ``auto`` falls back to it.
        install_hint: What to install when :meth:`unavailable_reason` says it cannot run.
    """

    name: ClassVar[str] = ""
    portable: ClassVar[bool] = False
    install_hint: ClassVar[str] = ""

    def __init__(self, algorithm: str = "") -> None:
        self.algorithm = algorithm

    @abstractmethod
    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        """Train.

        Args:
            params: The parameters the user set (``None`` values removed), by their training_hub names.
            callbacks: Optional training callbacks (only backends that support them accept them).

        Returns:
            Backend-specific result (the native backends return a dict).
        """

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this backend cannot run on this machine, or ``None`` when it can."""
        return None

    def ensure_available(self) -> None:
        """Raise :class:`BackendUnavailableError` when the backend cannot run here."""
        reason = self.unavailable_reason()
        if reason:
            hint = f"; install it with: {self.install_hint}" if self.install_hint else ""
            raise BackendUnavailableError(f"backend {self.name!r} cannot run here: {reason}{hint}")


class Algorithm(ABC):
    """A training algorithm: validates parameters and delegates to its backend."""

    def __init__(self, backend: Backend, **kwargs: Any) -> None:
        if kwargs:
            raise InvalidInputError(
                f"{type(self).__name__} takes no options besides backend, got {sorted(kwargs)}"
            )
        self.backend = backend

    @abstractmethod
    def train(self, **kwargs: Any) -> Any:
        """Run training with keyword parameters."""

    @abstractmethod
    def get_required_params(self) -> dict[str, Any]:
        """Names and types of the parameters training cannot run without."""

    @abstractmethod
    def get_optional_params(self) -> dict[str, Any]:
        """Names and types of the parameters that have a default."""


class ParamsAlgorithm(Algorithm):
    """An algorithm whose parameters are the fields of its pydantic model in :mod:`training_hub.params`."""

    #: Algorithm name (key of :func:`training_hub.params.param_model`).
    name: ClassVar[str] = ""

    @classmethod
    def params_model(cls) -> type[BaseModel]:
        """The pydantic model of this algorithm's parameters."""
        return param_model(cls.name)

    def get_required_params(self) -> dict[str, Any]:
        fields = self.params_model().model_fields
        return {n: f.annotation for n, f in fields.items() if f.is_required()}

    def get_optional_params(self) -> dict[str, Any]:
        fields = self.params_model().model_fields
        return {n: f.annotation for n, f in fields.items() if not f.is_required() and n != "backend"}

    def validate(self, **kwargs: Any) -> BaseModel:
        """Validate keywords (``None``: not set); raises :class:`InvalidInputError` with a readable message."""
        return validate(self.name, kwargs)

    def train(self, callbacks: Callbacks = None, **kwargs: Any) -> Any:
        """Validate the keywords and run the backend.

        Args:
            callbacks: Training callbacks, forwarded to the backend (which rejects them if it cannot honour
                them).
            **kwargs: The algorithm's parameters (see :meth:`get_required_params` and
                :meth:`get_optional_params`); ``None`` means "not set".

        Returns:
            What the backend returns.
        """
        kwargs.pop("backend", None)  # chosen when the algorithm was created
        return self.train_validated(validated(self.name, kwargs), callbacks)

    def train_validated(self, params: ValidatedParams, callbacks: Callbacks = None) -> Any:
        """Run the backend on parameters validated already (the public functions validate them once)."""
        return call_backend(self.backend, params, callbacks)


def call_backend(backend: Backend, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
    """Run ``backend.execute_training``: ours take ``callbacks`` as a keyword; a backend written as upstream's
    extending guide shows (``execute_training(self, algorithm_params)``) finds them in the dict, as upstream
    hands them over."""
    try:
        takes_callbacks = "callbacks" in inspect.signature(backend.execute_training).parameters
    except (TypeError, ValueError):
        takes_callbacks = False
    if takes_callbacks:
        return backend.execute_training(params, callbacks=callbacks)
    return backend.execute_training({**params, "callbacks": callbacks} if callbacks else params)


def instantiate_backend(backend_cls: type[Backend], algorithm: str) -> Backend:
    """A backend instance: ours take the algorithm's name; upstream-style ones take no argument."""
    try:
        takes_algorithm = "algorithm" in inspect.signature(backend_cls).parameters
    except (TypeError, ValueError):
        takes_algorithm = False
    instance = backend_cls(algorithm=algorithm) if takes_algorithm else backend_cls()
    if not getattr(instance, "algorithm", ""):
        instance.algorithm = algorithm
    return instance


class AlgorithmRegistry:
    """Maps algorithm names to classes and, per algorithm, backend names to backend classes."""

    _algorithms: ClassVar[dict[str, type[Algorithm]]] = {}
    _backends: ClassVar[dict[str, dict[str, type[Backend]]]] = {}

    @classmethod
    def register_algorithm(cls, name: str, algorithm_class: type[Algorithm]) -> None:
        """Register an algorithm class under ``name``."""
        cls._algorithms[name] = algorithm_class
        cls._backends.setdefault(name, {})

    @classmethod
    def register_backend(cls, algorithm_name: str, backend_name: str, backend_class: type[Backend]) -> None:
        """Register a backend (kebab-case name) for an already registered algorithm."""
        if algorithm_name not in cls._algorithms:
            raise InvalidInputError(f"register algorithm {algorithm_name!r} before its backends")
        cls._backends[algorithm_name][backend_name] = backend_class

    @classmethod
    def get_algorithm(cls, name: str) -> type[Algorithm]:
        """The algorithm class registered under ``name``."""
        try:
            return cls._algorithms[name]
        except KeyError:
            raise InvalidInputError(_unknown("algorithm", name, cls.list_algorithms())) from None

    @classmethod
    def get_backend(cls, algorithm_name: str, backend_name: str) -> type[Backend]:
        """The backend class registered for an algorithm under ``backend_name``."""
        backends = cls._backends.get(algorithm_name)
        if backends is None:
            raise InvalidInputError(_unknown("algorithm", algorithm_name, cls.list_algorithms()))
        try:
            return backends[backend_name]
        except KeyError:
            raise InvalidInputError(
                _unknown(f"backend for {algorithm_name}", backend_name, ["auto", *backends])
            ) from None

    @classmethod
    def list_algorithms(cls) -> list[str]:
        """Registered algorithm names."""
        return list(cls._algorithms)

    @classmethod
    def list_backends(cls, algorithm_name: str) -> list[str]:
        """Backend names registered for an algorithm."""
        if algorithm_name not in cls._backends:
            raise InvalidInputError(_unknown("algorithm", algorithm_name, cls.list_algorithms()))
        return list(cls._backends[algorithm_name])


def _unknown(kind: str, name: str, known: list[str]) -> str:
    close = suggest(name, known)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    return f"unknown {kind} {name!r}{hint}; choose one of: {', '.join(known)}"


def choose_backend(algorithm: str, params: dict[str, Any] | None = None) -> tuple[str, str]:
    """Pick a backend for ``backend='auto'``: an upstream engine that can run this run here, else the
    portable one (see :mod:`training_hub.backends.selection`).

    Returns:
        The backend name and a sentence saying why it was chosen.
    """
    from training_hub.backends.selection import select_backend
    from training_hub.hardware import Hardware, probe_hardware

    try:
        hardware = probe_hardware(select_device=False)  # this process launches torchrun: no context
    except ImportError:  # no torch: only a portable backend could run, and it will say so
        hardware = Hardware(cuda=False)
    choice = select_backend(algorithm, params or {}, hardware)
    return choice.name, choice.reason


def create_algorithm(
    algorithm_name: str,
    backend: str | None = "auto",
    *,
    backend_name: str | None = None,
    params: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Algorithm:
    """Create an algorithm instance bound to a backend.

    Args:
        algorithm_name: Registered algorithm name (``sft``, ``osft``, ``lora_sft``).
        backend: Backend name, or ``auto`` (default): an upstream engine when it is importable and CUDA is
            present, else the portable backend. The choice and its reason are logged.
        backend_name: Upstream's spelling of ``backend`` (takes precedence when given).
        params: The run's parameters, so that ``auto`` picks only an engine that accepts them.
        **kwargs: Passed to the algorithm class (as upstream; the built-in algorithms take none).

    Returns:
        The algorithm, ready for ``train(**params)``.
    """
    algorithm_cls = AlgorithmRegistry.get_algorithm(algorithm_name)
    chosen = backend_name or backend or "auto"
    if chosen == "auto":
        chosen, why = choose_backend(algorithm_name, params)
        logger.info("%s: using backend %r: %s", algorithm_name, chosen, why)
    backend_cls = AlgorithmRegistry.get_backend(algorithm_name, chosen)
    instance = instantiate_backend(backend_cls, algorithm_name)
    if isinstance(instance, Backend):
        instance.ensure_available()
    return algorithm_cls(backend=instance, **kwargs)


def run_algorithm(algorithm: str, values: dict[str, Any], callbacks: Callbacks = None) -> Any:
    """What :func:`~training_hub.sft` and friends do: check names, create, train.

    The keywords are validated here, once: unknown names and invalid values are reported before a backend
    is chosen, and the backend receives the :class:`ValidatedParams`.
    """
    backend = values.get("backend") or "auto"
    rest = {k: v for k, v in values.items() if k != "backend"}
    if isinstance(values, ValidatedParams) and values.algorithm == algorithm:  # the CLI validated them
        params = ValidatedParams(algorithm, rest, values.model)
    else:
        params = validated(algorithm, rest)
    instance = create_algorithm(algorithm, backend=backend, params=params)
    if isinstance(instance, ParamsAlgorithm):
        return instance.train_validated(params, callbacks)
    return instance.train(callbacks=callbacks, **params)
