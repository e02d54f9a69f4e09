"""The ``native`` launcher: nothing but Kubernetes. A headless Service plus one Job per node.

It works on every Kubernetes from 1.20 on (no Indexed Jobs, no ``Job.spec.suspend`` needed there):

* a headless Service ``<workload>`` (``publishNotReadyAddresses``: the rendezvous happens before any pod is
  ready) gives every node a stable DNS name ``<workload>-node-<i>.<workload>``;
* one Job per node (one completion, ``restartPolicy: Never``, ``backoffLimit`` from the run): node 0's Job
  is named ``<workload>`` (the workload the reconciler looks up), node ``i``'s ``<workload>-node-<i>``; its pod has ``hostname: <workload>-node-<i>`` and ``subdomain: <workload>``, and the
  rendezvous env the Kubeflow controllers would inject (``PET_NNODES``, ``PET_NPROC_PER_NODE``,
  ``PET_NODE_RANK=i``, ``PET_MASTER_ADDR``/``MASTER_ADDR`` = node 0's DNS name, ``PET_MASTER_PORT``/
  ``MASTER_PORT``), so the pod entrypoint cannot tell the launchers apart;
* a failed node pod is recreated by the Job controller (up to ``backoffLimit``); its peers lose the
  rendezvous, fail, and are recreated too, and training resumes from the last checkpoint;
* a ``podFailurePolicy`` fails the Job at once on the entrypoint's bad-input exit codes (2, 3) where the
  cluster supports it (1.26+; older API servers drop the field and the Job retries up to its limit);
* ``spec.suspend`` / ``queueName`` set ``Job.spec.suspend`` (1.21+) and the Kueue labels on every Job.

Status: ``Succeeded`` only when every node Job completed (as many as ``PET_NNODES`` says); ``Failed`` as soon as one Job failed.
The workload is the set of node Jobs; suspending a run must patch each of them with
:meth:`NativeLauncher.suspend_patch` (``Job.spec.suspend`` needs Kubernetes 1.21+).
"""

from __future__ import annotations

from typing import Any

from training_hub.contracts import pod_env
from training_hub.contracts.kinds import GROUP, JOB, SERVICE, ResourceKind
from training_hub.pod.exit_codes import PERMANENT_EXIT_CODES
from training_hub_operator.api.constants import LABEL_COMPONENT
from training_hub_operator.launchers import common, stopping, training_pod, workload_state
from training_hub_operator.launchers.base import RenderContext, StopActions, WorkloadObservation
from training_hub_operator.naming import ChildNames

CONTAINER_NAME = "trainer"
MASTER_PORT = 29500
PORT_NAME = "rendezvous"
#: Label with a node Job's (and its pod's) node rank.
LABEL_NODE_RANK = f"{GROUP}/node-rank"


def node_name(workload: str, rank: int) -> str:
    """Hostname of node ``rank``'s pod (``<workload>-node-<rank>``)."""
    return f"{workload}-node-{rank}"


def job_name(workload: str, rank: int) -> str:
    """Name of node ``rank``'s Job: node 0's Job is the workload itself (``<workload>``), the others
    ``<workload>-node-<rank>``, so that the reconciler finds the workload by its name."""
    return workload if rank == 0 else node_name(workload, rank)


def master_address(workload: str, namespace: str) -> str:
    """DNS name of node 0 through the headless Service (resolvable from every pod of the run)."""
    return f"{node_name(workload, 0)}.{workload}.{namespace}.svc"


def _expected_nodes(job: dict[str, Any]) -> int:
    """The run's node count, from a node Job's ``PET_NNODES`` (0 when unreadable)."""
    containers = (((job.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
    for container in containers:
        for env in container.get("env") or []:
            if env.get("name") == pod_env.PET_NNODES:
                try:
                    return int(env.get("value") or 0)
                except ValueError:
                    return 0
    return 0


class NativeLauncher(workload_state.SuspendField):
    """Renders and observes the native workload: headless Service + one Job per node.

    Each node Job is suspended through its ``spec.suspend``: apply :meth:`suspend_patch` to every one.
    """

    name = "native"
    api_version = JOB.api_version
    kind = JOB.kind
    workload_kind = JOB
    child_kinds: tuple[ResourceKind, ...] = (SERVICE, JOB)
    required_kinds: tuple[ResourceKind, ...] = ()
    compatibility_kind: ResourceKind | None = None  # built-in Jobs: any served version renders

    def child_refs(
        self, names: ChildNames, nodes: int, workload: dict[str, Any] | None
    ) -> list[tuple[ResourceKind, str]]:
        """Kind and name of every child: the Service and the Job of every node (``nodes`` from the
        plan, or more if node 0's Job says so)."""
        count = max(nodes, _expected_nodes(workload) if workload is not None else 0, 1)
        return [(SERVICE, names.workload)] + [(JOB, job_name(names.workload, i)) for i in range(count)]

    def compatibility(self, crd: dict[str, Any]) -> str | None:
        """None: the native launcher uses built-in kinds only."""
        return None

    def stop(self, running: list[dict[str, Any]]) -> StopActions:
        """Delete the unfinished node Jobs (background propagation deletes their pods)."""
        return stopping.delete_all(JOB, running, "node Job(s)")

    def rendezvous_env(self, ctx: RenderContext, rank: int) -> list[dict[str, Any]]:
        """The env of node ``rank``: the same ``PET_*`` / ``MASTER_*`` contract as the Kubeflow launchers."""
        addr = master_address(ctx.who.names.workload, ctx.who.namespace)
        return [
            {"name": pod_env.PET_NNODES, "value": str(ctx.plan.nodes)},
            {"name": pod_env.PET_NPROC_PER_NODE, "value": str(max(ctx.plan.gpus_per_node, 1))},
            {"name": pod_env.PET_NODE_RANK, "value": str(rank)},
            {"name": pod_env.PET_MASTER_ADDR, "value": addr},
            {"name": pod_env.PET_MASTER_PORT, "value": str(MASTER_PORT)},
            {"name": pod_env.MASTER_ADDR, "value": addr},
            {"name": pod_env.MASTER_PORT, "value": str(MASTER_PORT)},
        ]

    def service(self, ctx: RenderContext) -> dict[str, Any]:
        """The headless Service giving the node pods stable DNS names."""
        return {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": common.metadata(ctx, ctx.who.names.workload, "rendezvous"),
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": {**ctx.labels, LABEL_COMPONENT: "worker"},
                "ports": [
                    {"name": PORT_NAME, "port": MASTER_PORT, "targetPort": MASTER_PORT, "protocol": "TCP"}
                ],
            },
        }

    def job(self, ctx: RenderContext, rank: int) -> dict[str, Any]:
        """The Job of node ``rank``."""
        spec = ctx.spec
        name = job_name(ctx.who.names.workload, rank)
        pod = training_pod.pod_spec(
            ctx,
            container_name=CONTAINER_NAME,
            restart_policy="Never",
            extra_env=self.rendezvous_env(ctx, rank),
            ports=[{"name": PORT_NAME, "containerPort": MASTER_PORT, "protocol": "TCP"}],
        )
        pod["hostname"] = node_name(ctx.who.names.workload, rank)
        pod["subdomain"] = ctx.who.names.workload
        template = training_pod.pod_template(ctx, "worker", pod)
        template["metadata"]["labels"][LABEL_NODE_RANK] = str(rank)
        job_spec: dict[str, Any] = {
            "backoffLimit": spec.backoff_limit,
            "completions": 1,
            "parallelism": 1,
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "FailJob",
                        "onExitCodes": {
                            "containerName": CONTAINER_NAME,
                            "operator": "In",
                            "values": sorted(PERMANENT_EXIT_CODES),
                        },
                    }
                ]
            },
            "template": template,
        }
        if spec.suspend or spec.queue_name:
            job_spec["suspend"] = True
        if spec.active_deadline_seconds is not None:
            job_spec["activeDeadlineSeconds"] = spec.active_deadline_seconds
        if spec.ttl_seconds_after_finished is not None:
            job_spec["ttlSecondsAfterFinished"] = spec.ttl_seconds_after_finished
        meta = common.workload_metadata(ctx, name)
        meta["labels"][LABEL_NODE_RANK] = str(rank)
        return {"apiVersion": JOB.api_version, "kind": JOB.kind, "metadata": meta, "spec": job_spec}

    def render(self, ctx: RenderContext) -> list[dict[str, Any]]:
        """Headless Service, then one Job per node (node 0 first)."""
        return [self.service(ctx)] + [self.job(ctx, i) for i in range(ctx.plan.nodes)]

    def observe(self, children: list[dict[str, Any]]) -> WorkloadObservation:
        """Combine the node Jobs: Failed if one failed, Succeeded when all completed, else Running/Queued."""
        jobs = sorted(
            (c for c in children if c.get("kind") == JOB.kind),
            key=lambda j: int(((j.get("metadata") or {}).get("labels") or {}).get(LABEL_NODE_RANK, 0)),
        )
        if not jobs:
            return WorkloadObservation(
                phase="Queued", reason="WorkloadMissing", message="the node Jobs are missing"
            )
        statuses = [j.get("status") or {} for j in jobs]
        restarts = sum(int(s.get("failed") or 0) for s in statuses)
        starts = [s["startTime"] for s in statuses if s.get("startTime")]
        base: dict[str, Any] = {"restarts": restarts, "start_time": min(starts) if starts else None}
        for job in jobs:
            conds = workload_state.true_conditions(job)
            if "Failed" in conds:
                cond = conds["Failed"]
                name = (job.get("metadata") or {}).get("name")
                return WorkloadObservation(
                    phase="Failed",
                    reason=str(cond.get("reason") or "JobFailed"),
                    message=f"node Job {name} failed: {cond.get('message') or cond.get('reason') or 'failed'}",
                    completion_time=cond.get("lastTransitionTime"),
                    suspended=self.is_suspended(job),
                    **base,
                )
        missing = _expected_nodes(jobs[0]) - len(jobs)
        if missing <= 0 and all("Complete" in workload_state.true_conditions(j) for j in jobs):
            ends = [str(s["completionTime"]) for s in statuses if s.get("completionTime")]
            return WorkloadObservation(
                phase="Succeeded",
                reason="AllNodesSucceeded",
                message=f"all {len(jobs)} node(s) exited 0",
                completion_time=max(ends) if ends else None,
                **base,
            )
        suspended = all(self.is_suspended(j) for j in jobs)
        queue = workload_state.kueue_queue(jobs[0])
        if suspended and queue and not workload_state.user_suspended(jobs[0]):
            return workload_state.waiting_for_admission("the node Jobs", queue, suspended=True, **base)
        if suspended:
            return WorkloadObservation(
                phase="Suspended",
                reason="Suspended",
                message="the node Jobs are suspended",
                suspended=True,
                **base,
            )
        admitted = True if queue else None
        active = sum(int(s.get("active") or 0) for s in statuses)
        done = sum(1 for j in jobs if "Complete" in workload_state.true_conditions(j))
        if active > 0 or done > 0:
            return WorkloadObservation(
                phase="Running",
                reason="NodesRunning",
                message=f"{active} node pod(s) active, {done} of {len(jobs)} node(s) done"
                + (f"; {missing} node Job(s) missing" if missing > 0 else ""),
                admitted=admitted,
                **base,
            )
        return WorkloadObservation.waiting(
            "WaitingForPods", "the node Jobs were created; waiting for their pods", admitted, **base
        )


LAUNCHER = NativeLauncher()
