"""The portable backends: ``native`` (sft, osft) and ``peft`` (lora_sft), both running :mod:`training_hub.engine`.

The engine takes training_hub's own parameter names, so there is nothing to translate: it receives the
validated parameter model (:class:`~training_hub.algorithms.validation.ValidatedParams` ``.model``). When the
run needs more than one process and this process was not started by torchrun, the engine is launched under
torchrun (:mod:`training_hub.backends.launch`); otherwise it runs in this process (it initialises
``torch.distributed`` itself when ``WORLD_SIZE`` > 1).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

from training_hub.algorithms.base import Backend, Callbacks
from training_hub.algorithms.validation import validated
from training_hub.backends.launch import launch_engine
from training_hub.backends.native_upstream import check_upstream_keywords
from training_hub.callbacks import split_callbacks
from training_hub.contracts import pod_env
from training_hub.errors import InvalidInputError
from training_hub.params import EngineParams
from training_hub.torchrun import TORCHRUN_KEYS, get_torchrun_params, inside_torchrun, needs_launch

logger = logging.getLogger("training_hub")


def engine_model(algorithm: str, params: dict[str, Any]) -> EngineParams:
    """The parameter model the engine receives (defaults filled in; validated unless it was already), after
    the check of the upstream keywords the engine cannot honour."""
    valid = validated(algorithm, params)
    check_upstream_keywords(algorithm, valid.model, valid.explicit)
    return cast(EngineParams, valid.model)


def engine_params(algorithm: str, params: dict[str, Any]) -> dict[str, Any]:
    """:func:`engine_model` as a dict (every field): what the engine's JSON parameter file holds."""
    return dict(engine_model(algorithm, params).model_dump())


class NativeBackend(Backend):
    """Runs the portable training engine (``sft`` and ``osft``; also ``lora_sft`` as :class:`PeftLoRABackend`)."""

    name = "native"
    portable = True

    def resolve_launch(self, params: dict[str, Any]) -> tuple[EngineParams, dict[str, Any], bool]:
        """The engine's parameter model, the torchrun settings, and whether torchrun must be launched.

        Returns:
            ``(engine_model, torchrun_params, launch)``.
        """
        model = engine_model(self.algorithm, params)
        torchrun = get_torchrun_params({k: getattr(model, k, None) for k in TORCHRUN_KEYS})
        launch = needs_launch(torchrun) and not inside_torchrun()
        if not launch and needs_launch(torchrun):
            world = os.environ.get(pod_env.WORLD_SIZE, "?")
            logger.info(
                "%s: already inside torchrun (WORLD_SIZE=%s): training in this process", self.algorithm, world
            )
        return model, torchrun, launch

    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        model, torchrun, launch = self.resolve_launch(params)
        output_dir = model.ckpt_output_dir
        if launch:
            hub, other = split_callbacks(callbacks)
            if other:
                raise InvalidInputError(
                    "engine callbacks (on_step/on_checkpoint) run in the training process, but this run is "
                    f"launched as {torchrun['nproc_per_node']} x {torchrun['nnodes']} separate processes; start "
                    "your script with torchrun yourself (then training runs in-process), drop them, or write "
                    "them as TrainingHubCallback subclasses (sent to the processes by class source)"
                )
            logger.info(
                "%s: launching %s process(es) per node on %s node(s) under torchrun",
                self.algorithm,
                torchrun["nproc_per_node"],
                torchrun["nnodes"],
            )
            with callbacks_payload(hub, output_dir):
                summary = launch_engine(self.algorithm, model.model_dump(), torchrun)
                return self._upstream_layout(summary, output_dir)
        from training_hub.engine import run_training

        summary = run_training(self.algorithm, model, callbacks=list(callbacks) if callbacks else None)
        return self._upstream_layout(summary, output_dir)

    def _upstream_layout(self, summary: dict[str, Any], output_dir: str) -> Any:
        """Add the names upstream's OSFT scripts look for (see :mod:`training_hub.backends.upstream_layout`)."""
        if self.algorithm != "osft":
            return summary
        from training_hub.backends.upstream_layout import apply_osft_layout

        return apply_osft_layout(summary, output_dir)


class PeftLoRABackend(NativeBackend):
    """LoRA on the portable engine (PEFT adapters). As upstream's ``lora_sft``, the adapter is also at
    ``ckpt_output_dir`` with ``checkpoint-<step>/`` beside it, and the result has ``model``, ``tokenizer`` and
    ``trainer`` (see :mod:`training_hub.backends.upstream_layout`)."""

    name = "peft"

    def execute_training(self, params: dict[str, Any], callbacks: Callbacks = None) -> Any:
        from training_hub.backends.upstream_layout import apply_lora_layout

        summary = super().execute_training(params, callbacks)
        return apply_lora_layout(summary, str(params["ckpt_output_dir"]))


@contextmanager
def callbacks_payload(callbacks: list[Any], directory: str) -> Iterator[None]:
    """Within the block, ``TRAINING_HUB_CALLBACKS_PATH`` names a payload of ``callbacks`` in ``directory``
    (nothing is written when there are none)."""
    from training_hub.adapters.serialize import CALLBACKS_PATH_ENV, write_hub_callbacks_payload

    if not callbacks:
        yield
        return
    previous = os.environ.get(CALLBACKS_PATH_ENV)
    os.environ[CALLBACKS_PATH_ENV] = write_hub_callbacks_payload(callbacks, payload_dir=directory)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(CALLBACKS_PATH_ENV, None)
        else:
            os.environ[CALLBACKS_PATH_ENV] = previous
