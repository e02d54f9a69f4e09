"""The chart's files on disk: CRD copy freshness, metadata, values and schema agree (no cluster)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.chart.helm import CHART_DIR, REPO_ROOT, helm

pytestmark = pytest.mark.unit

TOP_CRDS = REPO_ROOT / "crds"
CHART_CRDS = CHART_DIR / "crds"


def _top_level_crd_files() -> list[Path]:
    files = sorted(TOP_CRDS.glob("*.yaml"))
    assert files, f"no generated CRD in {TOP_CRDS}"
    return files


def test_chart_crds_are_identical_copies_of_the_generated_crds() -> None:
    for top in _top_level_crd_files():
        copy = CHART_CRDS / top.name
        assert copy.is_file() and not copy.is_symlink(), (
            f"{copy} is missing (or a symlink, which helm packages drop)"
        )
        assert copy.read_bytes() == top.read_bytes(), (
            f"{copy.relative_to(REPO_ROOT)} differs from {top.relative_to(REPO_ROOT)}: "
            "run `python -m tests.chart.sync_crds` after `make crds`"
        )


def test_chart_crd_matches_what_the_models_generate_now() -> None:
    from training_hub_operator import crdgen

    rendered = crdgen.render_crd_yaml()
    copy = CHART_CRDS / crdgen.CRD_PATH.name
    assert copy.read_text() == rendered, "the chart's CRD is stale: run `make crds` and sync the chart copy"


def test_chart_ships_only_known_crds() -> None:
    names = {p.name for p in CHART_CRDS.glob("*.yaml")}
    expected = {p.name for p in _top_level_crd_files()} | {"kopf-peering.yaml"}
    assert names == expected
    groups = set()
    for path in CHART_CRDS.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            assert doc["kind"] == "CustomResourceDefinition"
            assert doc["apiVersion"] == "apiextensions.k8s.io/v1"
            groups.add(doc["spec"]["group"])
    assert groups == {"traininghub.io", "kopf.dev"}


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2"
    assert chart["name"] == "training-hub"
    assert chart["type"] == "application"
    assert chart["kubeVersion"].startswith(">=1.20")
    # The image tags default to appVersion: it must be a valid tag.
    assert str(chart["appVersion"]).replace(".", "").replace("-", "").isalnum()


def _schema_keys(schema: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, sub in schema.get("properties", {}).items():
        keys.add(prefix + k)
        if sub.get("type") == "object" and "properties" in sub:
            keys |= _schema_keys(sub, prefix + k + ".")
    return keys


def _value_keys(values: dict, prefix: str = "") -> set[str]:
    keys = set()
    for k, v in values.items():
        keys.add(prefix + k)
        if (
            isinstance(v, dict)
            and v
            and k not in {"resources", "podSecurityContext", "securityContext", "affinity"}
        ):
            keys |= _value_keys(v, prefix + k + ".")
    return keys


def test_every_value_is_described_by_the_schema() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    schema = json.loads((CHART_DIR / "values.schema.json").read_text())
    assert schema["additionalProperties"] is False
    resolved = json.loads(json.dumps(schema))

    def deref(node: dict) -> dict:
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return deref(resolved["definitions"][name])
        if "properties" in node:
            node = {**node, "properties": {k: deref(v) for k, v in node["properties"].items()}}
        return node

    missing = _value_keys(values) - _schema_keys(deref(resolved))
    assert not missing, f"values without a schema entry: {sorted(missing)}"


def test_default_security_context_is_restricted() -> None:
    values = yaml.safe_load((CHART_DIR / "values.yaml").read_text())
    sc = values["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["runAsNonRoot"] is True
    assert sc["capabilities"]["drop"] == ["ALL"]
    pod = values["podSecurityContext"]
    assert pod["seccompProfile"]["type"] == "RuntimeDefault"
    # OpenShift assigns an arbitrary UID from the namespace's range: a fixed UID/GID/fsGroup would be refused.
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        assert key not in pod and key not in sc


def test_helm_lint_is_clean() -> None:
    result = helm("lint", chart=CHART_DIR)
    assert result["charts"] == 1
    bad = [m for m in result["messages"] if m["severity"] in ("ERROR", "WARNING")]
    assert not bad, f"helm lint: {bad}"


def test_argocd_health_check_ships_with_the_chart() -> None:
    lua = CHART_DIR / "files" / "argocd-health.lua"
    assert lua.is_file()
    assert "obj.status" in lua.read_text()


def test_packaged_chart_holds_the_crds_and_health_check(tmp_path: Path) -> None:
    import tarfile

    archive = Path(helm("package", chart=CHART_DIR, dest_dir=tmp_path))
    version = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())["version"]
    assert archive.name == f"training-hub-{version}.tgz"
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        for top in _top_level_crd_files():
            member = f"training-hub/crds/{top.name}"
            assert member in names
            extracted = tar.extractfile(member)
            assert extracted is not None and extracted.read() == top.read_bytes()
        assert "training-hub/files/argocd-health.lua" in names
        assert "training-hub/values.schema.json" in names
        assert not [n for n in names if "__pycache__" in n]
