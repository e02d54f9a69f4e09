"""The operator and runtime Dockerfiles: they parse, run what the project provides, and agree with the
operator (pod command), the chart (ports, non-root) and pyproject (extras, torch pin). No Docker here."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

from tests.images.dockerfile import Dockerfile, parse

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
OPERATOR = REPO / "images" / "operator" / "Dockerfile"
RUNTIME = REPO / "images" / "runtime" / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
CHART_VALUES = yaml.safe_load((REPO / "charts" / "training-hub" / "values.yaml").read_text())


@pytest.fixture(scope="module", params=[OPERATOR, RUNTIME], ids=["operator", "runtime"])
def dockerfile(request: pytest.FixtureRequest) -> Dockerfile:
    return parse(request.param)


def _entry(df: Dockerfile) -> list[str]:
    ep = df.final.last("ENTRYPOINT")
    assert ep is not None, "the final stage needs an ENTRYPOINT"
    form = ep.exec_form()
    assert form is not None, "ENTRYPOINT must use the exec (JSON) form so signals reach the process"
    cmd = df.final.last("CMD")
    return form + (cmd.exec_form() or [] if cmd else [])


def _installed_extras(df: Dockerfile) -> set[str]:
    extras: set[str] = set()
    defaults = df.arg_defaults()
    for stage in df.stages:
        for run in stage.all("RUN"):
            for m in re.finditer(r'"?\.\[([^\]]+)\]"?', run.value):
                names = re.sub(r"\$\{(\w+)\}", lambda a: defaults[a.group(1)], m.group(1))
                extras |= {e.strip() for e in names.split(",")}
    return extras


def test_final_stage_runs_as_numeric_non_root_user(dockerfile: Dockerfile) -> None:
    user = dockerfile.final.last("USER")
    assert user is not None
    uid = user.value.split(":")[0]
    # runAsNonRoot can only verify a numeric UID.
    assert uid.isdigit() and int(uid) != 0
    gid = user.value.split(":")[1] if ":" in user.value else "0"
    assert gid == "0", "group 0 lets OpenShift's arbitrary UIDs (always GID 0) share the image's files"


def test_copy_sources_exist_and_are_in_the_build_context(dockerfile: Dockerfile) -> None:
    ignore = (dockerfile.path.parent / "Dockerfile.dockerignore").read_text().split()
    allowed = {p[1:].rstrip("/") for p in ignore if p.startswith("!")}
    assert "*" in ignore, "the context allow-list starts by excluding everything"
    for stage in dockerfile.stages:
        for ins in stage.all("COPY"):
            flags, args = ins.flags_and_args()
            if "from" in flags:
                assert flags["from"] in {s.name for s in dockerfile.stages}
                continue
            for src in args[:-1]:
                assert (REPO / src).exists(), f"{dockerfile.path.name}:{ins.line}: COPY {src} does not exist"
                assert src.rstrip("/") in allowed, f"{src} is excluded by Dockerfile.dockerignore"


def test_installed_extras_exist_in_pyproject(dockerfile: Dockerfile) -> None:
    extras = _installed_extras(dockerfile)
    assert extras
    assert extras <= set(PYPROJECT["project"]["optional-dependencies"])


def test_entrypoint_is_a_console_script_of_the_project(dockerfile: Dockerfile) -> None:
    program = _entry(dockerfile)[0]
    assert program in PYPROJECT["project"]["scripts"]


def test_operator_image_entrypoint_starts_the_operator() -> None:
    df = parse(OPERATOR)
    assert _entry(df) == ["training-hub-operator"]
    target = PYPROJECT["project"]["scripts"]["training-hub-operator"]
    assert target == "training_hub_operator.main:main"
    # The chart runs the same program.
    deployment = (REPO / "charts" / "training-hub" / "templates" / "deployment.yaml").read_text()
    assert 'command: ["training-hub-operator"]' in deployment
    assert "exec training-hub-operator " in deployment


def test_operator_image_has_no_torch() -> None:
    df = parse(OPERATOR)
    assert _installed_extras(df) == {"operator"}
    text = OPERATOR.read_text()
    assert not re.search(r"pip install[^\n]*torch", text)
    # The closure of the operator extra's requirements, as installed here, holds no torch/transformers.
    closure = _requirement_closure("training-hub-k8s", {"operator"})
    assert {"kopf", "kubernetes", "prometheus-client", "pydantic"} <= closure
    assert not closure & {"torch", "transformers", "peft", "accelerate", "triton"}


def test_operator_image_ports_match_the_chart() -> None:
    df = parse(OPERATOR)
    exposed = {int(p.split("/")[0]) for ins in df.final.all("EXPOSE") for p in ins.value.split()}
    assert exposed == {CHART_VALUES["health"]["port"], CHART_VALUES["metrics"]["port"]}


def test_runtime_image_entrypoint_is_the_operators_pod_command() -> None:
    from training_hub.pod.spec import POD_COMMAND

    assert _entry(parse(RUNTIME)) == POD_COMMAND


def test_runtime_pod_command_exists_in_the_cli() -> None:
    from training_hub.pod.spec import POD_COMMAND

    script = Path(sys.executable).parent / POD_COMMAND[0]
    proc = subprocess.run([str(script), POD_COMMAND[1], "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "--spec" in proc.stdout


def test_runtime_image_torch_pin_matches_the_train_extra() -> None:
    df = parse(RUNTIME)
    pins = [Requirement(r) for r in PYPROJECT["project"]["optional-dependencies"]["train"]]
    (torch,) = [r for r in pins if r.name == "torch"]
    assert str(torch.specifier) == f"=={df.arg_defaults()['TORCH_VERSION']}"


def test_runtime_image_installs_cuda_torch_then_builds_flash_attn_without_isolation() -> None:
    df = parse(RUNTIME)
    build = next(s for s in df.stages if s.name == "build")
    assert "devel" in build.base and "cuda" in build.base  # flash-attn compiles against the CUDA toolkit
    assert "runtime" in df.final.base and "cuda" in df.final.base
    runs = [r.value for r in build.all("RUN")]
    i_torch = next(i for i, r in enumerate(runs) if "--index-url" in r and "torch==" in r)
    i_train = next(i for i, r in enumerate(runs) if '".[train]"' in r)
    i_gpu = next(i for i, r in enumerate(runs) if "--no-build-isolation" in r)
    assert i_torch < i_train < i_gpu
    assert df.arg_defaults()["GPU_EXTRAS"] == "cuda"
    cuda_extra = PYPROJECT["project"]["optional-dependencies"]["cuda"]
    assert any(Requirement(r).name == "flash-attn" for r in cuda_extra)


def test_runtime_image_keeps_the_hf_cache_on_a_volume() -> None:
    df = parse(RUNTIME)
    env = df.final.env()
    volumes = [v for ins in df.final.all("VOLUME") for v in (ins.exec_form() or ins.value.split())]
    assert env["HF_HOME"] in volumes
    assert env["HOME"] != "/root"
    setup = " ".join(r.value for r in df.final.all("RUN"))
    assert env["HF_HOME"] in setup and "g=u" in setup  # writable by the image user and by arbitrary UIDs


def _requirement_closure(dist: str, extras: set[str]) -> set[str]:
    """Names of the distributions ``dist[extras]`` pulls in, following installed metadata."""

    def norm(name: str) -> str:
        return re.sub(r"[-_.]+", "-", name).lower()

    seen: set[str] = set()
    todo: list[tuple[str, set[str]]] = [(dist, extras)]
    while todo:
        name, wanted = todo.pop()
        try:
            reqs = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for text in reqs:
            req = Requirement(text)
            envs = [{"extra": e} for e in wanted] or [{"extra": ""}]
            if req.marker is not None and not any(req.marker.evaluate(env) for env in envs):
                continue
            key = norm(req.name)
            if key not in seen:
                seen.add(key)
                todo.append((req.name, set(req.extras)))
    return seen


def test_runtime_final_stage_can_compile_triton_launchers() -> None:
    """Triton builds a C launcher with the host compiler at its first kernel (Liger, unsloth): the final
    stage needs a C compiler, the libc headers and Python.h, not only the build stage."""
    final = parse(RUNTIME).final
    packages: set[str] = set()
    for run in final.all("RUN"):
        for m in re.finditer(r"apt-get install([^&]*)", run.value):
            packages |= {w for w in m.group(1).split() if not w.startswith("-")}
    assert {"gcc", "libc6-dev", "python3-dev"} <= packages, packages
