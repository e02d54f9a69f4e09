"""Install, upgrade and uninstall the chart with real Helm (helm-sdkpy) on the local control plane."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.chart.helm import HelmFailed, find, install, manifest_objects, uninstall, upgrade
from tests.controlplane.cluster import ControlPlane

pytestmark = pytest.mark.integration

INSTANCE = "app.kubernetes.io/instance"
#: Kinds the chart creates, cluster-scoped and namespaced, to look for leftovers by label.
CLUSTER_KINDS = "clusterroles,clusterrolebindings,clusterkopfpeerings"
NAMESPACED_KINDS = "deployments,services,serviceaccounts,roles,rolebindings,kopfpeerings,configmaps"


def _suffix() -> str:
    return uuid.uuid4().hex[:5]


def live_objects(plane: ControlPlane, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Read back every object of a manifest from the API server (fails if one is missing)."""
    text = yaml.safe_dump_all(objects)
    if not objects:
        return []
    out = json.loads(plane.kubectl("get", "-f", "-", "-o", "json", input=text).stdout)
    return out["items"] if out.get("kind") == "List" else [out]


def leftovers(plane: ControlPlane, release: str, namespaces: list[str]) -> list[str]:
    """Names of objects still labelled with the release, cluster-wide and in ``namespaces``."""
    names = plane.kubectl("get", CLUSTER_KINDS, "-l", f"{INSTANCE}={release}", "-o", "name").stdout.split()
    for ns in namespaces:
        out = plane.kubectl("get", NAMESPACED_KINDS, "-n", ns, "-l", f"{INSTANCE}={release}", "-o", "name")
        names += [f"{ns}/{n}" for n in out.stdout.split()]
    return names


def can_i(plane: ControlPlane, user: str, verb: str, resource: str, namespace: str | None = None) -> bool:
    """Ask the API server (SubjectAccessReview) whether ``user`` may ``verb`` a ``resource[.group][/sub]``.

    ``namespace`` None asks for all namespaces (what a ClusterRole grants).
    """
    return subject_access(plane, user, verb, resource, namespace)


def subject_access(plane: ControlPlane, user: str, verb: str, resource: str, namespace: str | None) -> bool:
    res, _, sub = resource.partition("/")
    name, _, group = res.partition(".")
    attrs = {"verb": verb, "resource": name, "group": group}
    if sub:
        attrs["subresource"] = sub
    if namespace:
        attrs["namespace"] = namespace
    user_ns = user.split(":")[2] if user.startswith("system:serviceaccount:") else None
    groups = ["system:authenticated"] + (
        ["system:serviceaccounts", f"system:serviceaccounts:{user_ns}"] if user_ns else []
    )
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {"user": user, "groups": groups, "resourceAttributes": attrs},
    }
    out = plane.kubectl("create", "-f", "-", "-o", "json", input=json.dumps(review))
    return bool(json.loads(out.stdout)["status"].get("allowed"))


@pytest.fixture(scope="module")
def default_release(control_plane: ControlPlane) -> Iterator[tuple[str, str, dict]]:
    """The chart installed with default values: (release, namespace, release dict)."""
    release, namespace = f"th-{_suffix()}", f"th-system-{_suffix()}"
    rel = install(control_plane.kubeconfig, release, namespace)
    try:
        yield release, namespace, rel
    finally:
        uninstall(control_plane.kubeconfig, release, namespace)


def test_install_creates_every_object(
    control_plane: ControlPlane, default_release: tuple[str, str, dict]
) -> None:
    release, namespace, rel = default_release
    assert rel["info"]["status"] == "deployed"
    objects = manifest_objects(rel)
    kinds = sorted({o["kind"] for o in objects})
    assert kinds == sorted(
        {
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "Deployment",
            "ClusterKopfPeering",
        }
    )
    live = live_objects(control_plane, objects)
    assert len(live) == len(objects)
    for obj in live:
        assert obj["metadata"]["labels"][INSTANCE] == release
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    # crds/ are installed too, and served.
    for crd in ("trainingruns.traininghub.io", "clusterkopfpeerings.kopf.dev", "kopfpeerings.kopf.dev"):
        control_plane.wait_for_crd(crd)
    assert "first TrainingRun" in rel["info"]["notes"] and f"-n {namespace}" in rel["info"]["notes"]


def test_deployment_is_restricted_and_probed(default_release: tuple[str, str, dict]) -> None:
    release, namespace, rel = default_release
    (dep,) = find(manifest_objects(rel), "Deployment")
    pod = dep["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert "runAsUser" not in sc and "runAsUser" not in pod["securityContext"]  # OpenShift: arbitrary UIDs
    # Peering is on by default: a shell gives each replica its own kopf priority, then execs the operator.
    assert container["command"][:2] == ["/bin/sh", "-c"]
    assert container["command"][2].startswith("exec training-hub-operator --priority=")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"]["path"] == "/healthz"
        assert container[probe]["httpGet"]["port"] == "health"
    assert f"--liveness-port={ports['health']}" in container["args"]
    assert f"--metrics-port={ports['metrics']}" in container["args"]
    assert "--all-namespaces" in container["args"]
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # A writable /tmp on the read-only root filesystem.
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"]
    (svc,) = find(manifest_objects(rel), "Service")
    assert svc["spec"]["selector"] == dep["spec"]["selector"]["matchLabels"]
    assert svc["spec"]["ports"][0]["port"] == ports["metrics"]


def test_operator_rbac_is_least_privilege(
    control_plane: ControlPlane, default_release: tuple[str, str, dict]
) -> None:
    release, namespace, rel = default_release
    (dep,) = find(manifest_objects(rel), "Deployment")
    sa = f"system:serviceaccount:{namespace}:{dep['spec']['template']['spec']['serviceAccountName']}"
    allowed = [
        ("watch", "trainingruns.traininghub.io"),
        ("patch", "trainingruns.traininghub.io/status"),
        ("get", "configmaps"),  # the model config a run names (spec.model.configMapRef)
        ("delete", "pytorchjobs.kubeflow.org"),
        ("patch", "pytorchjobs.kubeflow.org"),  # suspend, also to stop a run past its start deadline
        ("create", "trainjobs.trainer.kubeflow.org"),
        ("patch", "trainjobs.trainer.kubeflow.org"),
        ("create", "jobs.batch"),
        ("delete", "jobs.batch"),  # the unfinished node Jobs of a failed native run
        ("list", "pods"),  # why pods do not start (start deadline) or failed
        ("create", "services"),
        ("create", "events"),
        ("list", "customresourcedefinitions.apiextensions.k8s.io"),
        ("patch", "clusterkopfpeerings.kopf.dev"),
    ]
    denied = [
        ("get", "secrets"),
        ("list", "secrets"),
        # The run spec travels in the pod template: no ConfigMap per run, nothing to write or list.
        ("create", "configmaps"),
        ("list", "configmaps"),
        ("delete", "configmaps"),
        ("create", "trainingruns.traininghub.io"),
        ("delete", "trainingruns.traininghub.io"),
        ("update", "trainingruns.traininghub.io"),
        ("create", "pods"),
        ("create", "pods/exec"),
        ("create", "customresourcedefinitions.apiextensions.k8s.io"),
        ("create", "roles.rbac.authorization.k8s.io"),
        ("create", "serviceaccounts/token"),
        ("create", "persistentvolumeclaims"),
        ("list", "nodes"),
        ("impersonate", "serviceaccounts"),
    ]
    for verb, res in allowed:
        assert can_i(control_plane, sa, verb, res), f"operator should be allowed to {verb} {res}"
    for verb, res in denied:
        assert not can_i(control_plane, sa, verb, res), f"operator must not {verb} {res}"


def test_runtime_service_account_can_only_report_progress(
    control_plane: ControlPlane, default_release: tuple[str, str, dict]
) -> None:
    """Training pods (rank 0) patch their run's status.progress and post Events; nothing else
    (docs/observability.md)."""
    release, namespace, rel = default_release
    sa_obj = control_plane.kubectl_json("get", "serviceaccount", "training-hub-runtime", "-n", namespace)
    assert sa_obj["automountServiceAccountToken"] is True
    sa = f"system:serviceaccount:{namespace}:training-hub-runtime"
    for verb, res in [("patch", "trainingruns.traininghub.io/status"), ("create", "events")]:
        assert can_i(control_plane, sa, verb, res, namespace), f"runtime should be allowed to {verb} {res}"
    denied = [
        ("get", "secrets"),
        ("list", "pods"),
        ("get", "configmaps"),
        ("get", "trainingruns.traininghub.io"),
        ("patch", "trainingruns.traininghub.io"),
        ("update", "trainingruns.traininghub.io/status"),
        ("delete", "events"),
    ]
    for verb, res in denied:
        assert not can_i(control_plane, sa, verb, res, namespace), f"runtime must not {verb} {res}"
    assert not can_i(control_plane, sa, "patch", "trainingruns.traininghub.io/status", "kube-system")


def test_bad_values_are_refused_by_the_schema(control_plane: ControlPlane) -> None:
    with pytest.raises(HelmFailed) as err:
        install(
            control_plane.kubeconfig,
            f"bad-{_suffix()}",
            "default",
            {"replicaCount": "two", "watchNamespaces": ["Bad_NS"]},
        )
    assert "/replicaCount" in err.value.message and "/watchNamespaces/0" in err.value.message
    with pytest.raises(HelmFailed) as err:
        install(control_plane.kubeconfig, f"bad-{_suffix()}", "default", {"metrics": {"prot": 1}})
    assert "prot" in err.value.message


def test_namespaced_mode(control_plane: ControlPlane) -> None:
    release, home = f"thns-{_suffix()}", f"th-home-{_suffix()}"
    team_a, team_b, other = (control_plane.create_namespace(f"team-{x}-{_suffix()}") for x in "abc")
    rel = install(
        control_plane.kubeconfig,
        release,
        home,
        {
            "watchNamespaces": [team_a, team_b],
            "operator": {"planningPods": False},
            "rbac": {"launchers": {"native": False}},
        },
    )
    try:
        objects = manifest_objects(rel)
        live_objects(control_plane, objects)
        # No namespaced-resource ClusterRole: only read-only discovery cluster-wide.
        (cluster_role,) = find(objects, "ClusterRole")
        verbs = {v for rule in cluster_role["rules"] for v in rule["verbs"]}
        assert verbs <= {"get", "list", "watch"}
        assert {r for rule in cluster_role["rules"] for r in rule["resources"]} == {
            "customresourcedefinitions",
            "namespaces",
        }
        assert {
            r["metadata"]["namespace"]
            for r in find(objects, "Role")
            if "runtime" not in r["metadata"]["name"]
        } == {
            team_a,
            team_b,
        }
        assert {p["metadata"]["namespace"] for p in find(objects, "KopfPeering")} == {team_a, team_b}
        # Runtime ServiceAccounts go where the runs are.
        assert {
            s["metadata"]["namespace"] for s in find(objects, "ServiceAccount", "training-hub-runtime")
        } == {
            team_a,
            team_b,
        }
        (dep,) = find(objects, "Deployment")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        assert f"--namespace={team_a}" in args and f"--namespace={team_b}" in args
        assert "--all-namespaces" not in args
        sa = f"system:serviceaccount:{home}:{dep['spec']['template']['spec']['serviceAccountName']}"
        assert can_i(control_plane, sa, "patch", "trainingruns.traininghub.io/status", team_a)
        assert can_i(control_plane, sa, "get", "configmaps", team_b)
        assert can_i(control_plane, sa, "create", "pytorchjobs.kubeflow.org", team_b)
        assert not can_i(control_plane, sa, "create", "jobs.batch", team_a)
        assert not can_i(control_plane, sa, "create", "services", team_a)
        assert not can_i(control_plane, sa, "list", "trainingruns.traininghub.io", other)
        assert not can_i(control_plane, sa, "get", "configmaps", other)
        assert not can_i(control_plane, sa, "get", "configmaps", home)
        assert not can_i(control_plane, sa, "patch", "clusterkopfpeerings.kopf.dev")
        assert can_i(control_plane, sa, "patch", "kopfpeerings.kopf.dev", team_a)
        # The operator only reads pods; without planning pods (and with the native launcher off) it has no Jobs.
        assert can_i(control_plane, sa, "watch", "pods", team_a)
        assert not can_i(control_plane, sa, "create", "pods", team_a)
    finally:
        uninstall(control_plane.kubeconfig, release, home)
    assert leftovers(control_plane, release, [home, team_a, team_b]) == []


def test_upgrade_and_uninstall_leave_no_orphans(control_plane: ControlPlane) -> None:
    release, namespace = f"thup-{_suffix()}", f"th-up-{_suffix()}"
    extra = control_plane.create_namespace(f"extra-{_suffix()}")
    rel1 = install(
        control_plane.kubeconfig, release, namespace, {"runtime": {"namespaces": [namespace, extra]}}
    )
    objs1 = manifest_objects(rel1)
    assert find(objs1, "Service") and len(find(objs1, "ServiceAccount", "training-hub-runtime")) == 2
    before = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs1}

    # Upgrade: metrics off, runtime only in the release namespace, namespaced mode.
    values = {"metrics": {"enabled": False}, "watchNamespaces": [namespace]}
    rel2 = upgrade(control_plane.kubeconfig, release, namespace, values)
    assert rel2["version"] == 2
    objs2 = manifest_objects(rel2)
    after = {(o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objs2}
    removed = before - after
    assert ("Service", namespace, f"{release}-training-hub-metrics") in removed
    assert ("ServiceAccount", extra, "training-hub-runtime") in removed
    assert ("ClusterKopfPeering", None, f"{release}-training-hub") in removed
    live_objects(control_plane, objs2)
    for kind, ns, name in removed:
        args = ["get", kind.lower(), name, "--ignore-not-found", "-o", "name"] + (["-n", ns] if ns else [])
        assert control_plane.kubectl(*args).stdout.strip() == "", f"upgrade left {kind} {ns}/{name} behind"

    uninstall(control_plane.kubeconfig, release, namespace)
    assert leftovers(control_plane, release, [namespace, extra]) == []
    # CRDs stay (Helm never deletes crds/: they hold users' TrainingRuns).
    control_plane.kubectl("get", "crd", "trainingruns.traininghub.io")


def test_reinstalling_unchanged_values_changes_nothing(control_plane: ControlPlane) -> None:
    """An upgrade with the same values is a no-op on the API server (declarative, GitOps-friendly)."""
    release, namespace = f"thid-{_suffix()}", f"th-id-{_suffix()}"
    rel = install(control_plane.kubeconfig, release, namespace)
    try:
        objects = manifest_objects(rel)
        versions = {
            (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for o in live_objects(control_plane, objects)
        }
        upgrade(control_plane.kubeconfig, release, namespace)
        again = {
            (o["kind"], o["metadata"]["name"]): o["metadata"]["resourceVersion"]
            for o in live_objects(control_plane, objects)
        }
        assert again == versions
    finally:
        uninstall(control_plane.kubeconfig, release, namespace)


MONITORING_CRDS = [
    {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.monitoring.coreos.com"},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                    },
                }
            ],
        },
    }
    for kind, plural in (("ServiceMonitor", "servicemonitors"), ("PodMonitor", "podmonitors"))
]


def test_monitors_need_prometheus_operator_and_are_created_with_it(control_plane: ControlPlane) -> None:
    release, namespace = f"thmon-{_suffix()}", f"th-mon-{_suffix()}"
    values = {
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prom"}},
            "podMonitor": {"enabled": True},
        },
        "runtime": {"metrics": {"podMonitor": {"enabled": True}}},
    }
    have = (
        control_plane.kubectl("get", "crd", "servicemonitors.monitoring.coreos.com", check=False).returncode
        == 0
    )
    if not have:
        with pytest.raises(HelmFailed) as err:
            install(control_plane.kubeconfig, release, namespace, values)
        assert "prometheus-operator" in err.value.message
    # The prometheus-operator's CRDs (schema-less stand-ins: the chart only needs the kinds to be served).
    control_plane.apply(MONITORING_CRDS)
    for crd in MONITORING_CRDS:
        control_plane.wait_for_crd(crd["metadata"]["name"])
    rel = install(control_plane.kubeconfig, release, namespace, values)
    try:
        objects = manifest_objects(rel)
        live = live_objects(control_plane, objects)
        (sm,) = [o for o in live if o["kind"] == "ServiceMonitor"]
        assert sm["metadata"]["labels"]["release"] == "prom"
        assert sm["spec"]["endpoints"][0]["port"] == "metrics"
        (svc,) = find(objects, "Service")
        assert sm["spec"]["selector"]["matchLabels"].items() <= svc["spec"]["selector"].items()
        monitors = {o["metadata"]["name"]: o for o in live if o["kind"] == "PodMonitor"}
        assert len(monitors) == 2
        # The training pods' metrics (docs/observability.md): rank 0's container port "metrics".
        runtime = next(m for name, m in monitors.items() if name.endswith("-runtime"))
        assert runtime["spec"]["selector"]["matchLabels"] == {
            "app.kubernetes.io/managed-by": "training-hub-operator"
        }
        assert runtime["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
        assert runtime["spec"]["namespaceSelector"]["matchNames"] == [namespace]
    finally:
        uninstall(control_plane.kubeconfig, release, namespace)
    assert (
        json.loads(control_plane.kubectl("get", "servicemonitors", "-n", namespace, "-o", "json").stdout)[
            "items"
        ]
        == []
    )
