"""The pure rendering step: validated spec + run metadata + settings -> plan -> launcher -> child objects.

The operator (:mod:`training_hub_operator.reconcile`) and local mode (:mod:`training_hub.local.runner`)
both turn a TrainingRun into its children here, so a run renders to the same objects wherever it runs.
Nothing here calls the API server: the caller passes the model config it could reach and the launcher
it chose (:func:`~training_hub_operator.launchers.auto.choose_launcher`).
"""

from __future__ import annotations

from typing import Any

from training_hub_operator.api.status import Plan
from training_hub_operator.api.validation import ValidatedSpec
from training_hub_operator.launchers.base import Launcher, RenderContext, RunIdentity
from training_hub_operator.launchers.common import launched_spec_json, pod_run_spec
from training_hub_operator.naming import child_labels, child_names, owner_reference
from training_hub_operator.planned_engine import pod_engine
from training_hub_operator.planning import ModelConfig, make_plan
from training_hub_operator.settings import OperatorSettings


def identity(run: dict[str, Any]) -> RunIdentity:
    """The identity of a TrainingRun body."""
    meta = run.get("metadata") or {}
    name = str(meta["name"])
    return RunIdentity(
        run=run,
        name=name,
        namespace=str(meta.get("namespace") or "default"),
        uid=str(meta.get("uid") or ""),
        generation=int(meta.get("generation") or 1),
        names=child_names(name),
    )


def plan_run(validated: ValidatedSpec, model_config: ModelConfig | None, settings: OperatorSettings) -> Plan:
    """The run's shape (nodes x GPUs) for the model config that could be reached.

    Raises:
        PlanningError: When the run cannot be planned (reason and message for the status).
    """
    return make_plan(validated.spec, validated.hyperparameters.model_dump(), model_config, settings)


def render_context(
    who: RunIdentity, validated: ValidatedSpec, plan: Plan, settings: OperatorSettings
) -> RenderContext:
    """The launcher's render context for a valid run."""
    spec = validated.spec
    hp = validated.hyperparameters_set()
    meta = who.run.get("metadata") or {}
    return RenderContext(
        who=who,
        spec=spec,
        hyperparameters=hp,
        plan=plan,
        owner_reference=owner_reference(who.run),
        labels=child_labels(who.name, "workload"),
        pod_run_spec=pod_run_spec(
            spec,
            hp,
            run_name=who.name,
            namespace=who.namespace,
            uid=meta.get("uid"),
            generation=meta.get("generation"),
            engine=pod_engine(spec, plan, spec.runtime.image or settings.default_image),
        ),
        settings=settings,
        launched_spec=launched_spec_json(who.run.get("spec") or {}),
    )


def render_objects(
    launcher: Launcher, who: RunIdentity, validated: ValidatedSpec, plan: Plan, settings: OperatorSettings
) -> list[dict[str, Any]]:
    """The run's child objects (the native launcher's Service first, workload last), as the launcher renders them.

    Raises:
        RenderError: (a ``ValueError``) When the launcher cannot render the run.
    """
    return launcher.render(render_context(who, validated, plan, settings))
