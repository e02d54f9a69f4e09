"""``config.json`` of Hugging Face Hub models, fetched once per operator process for planning.

Only when both the operator (``TRAINING_HUB_ALLOW_CONFIG_FETCH``) and the run (``spec.model.allowConfigFetch``)
allow it; a failed fetch becomes a planning condition, not a guess.
"""

from __future__ import annotations

from training_hub.errors import InvalidInputError
from training_hub_operator.planning import ModelConfig, PlanningError


class HubConfigs:
    """The Hub model configs this process fetched (kept for its lifetime: a model's config does not change
    under a run, and each fetch is an outbound request)."""

    def __init__(self) -> None:
        self._cache: dict[str, ModelConfig] = {}

    def get(self, hub_id: str, *, allowed: bool) -> tuple[ModelConfig | None, PlanningError | None]:
        """The config of ``hub_id`` (fetched on first use), or the planning error that says why not.

        Args:
            hub_id: ``org/name`` on the Hub.
            allowed: Whether this operator fetches from the Hub at all.
        """
        if not allowed:
            return None, PlanningError(
                "ConfigFetchDisabled",
                "this operator does not fetch from the Hugging Face Hub (TRAINING_HUB_ALLOW_CONFIG_FETCH=false): "
                "set spec.model.config or spec.model.configMapRef",
            )
        if hub_id not in self._cache:
            from training_hub.estimator import load_model_config

            try:
                self._cache[hub_id] = ModelConfig(
                    load_model_config(hub_id, allow_download=True), f"hf://{hub_id} config.json"
                )
            except (InvalidInputError, OSError) as exc:
                return None, PlanningError(
                    "ModelConfigFetchFailed", f"fetching config.json of {hub_id}: {exc}"
                )
        return self._cache[hub_id], None
