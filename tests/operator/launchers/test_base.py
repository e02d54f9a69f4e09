"""The launcher Protocol has no optional parts: every shipped launcher implements all of it."""

from __future__ import annotations

import pytest

from training_hub_operator.kube import JOB
from training_hub_operator.launchers import available_launchers
from training_hub_operator.launchers.base import Launcher
from training_hub_operator.naming import child_names

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(available_launchers()))
def test_every_launcher_implements_the_whole_protocol(name):
    launcher = available_launchers()[name]
    assert isinstance(launcher, Launcher)
    refs = launcher.child_refs(child_names("r1"), 2, None)
    assert (launcher.workload_kind, "r1") in refs or launcher.workload_kind == JOB
    if launcher.compatibility_kind is None:
        assert launcher.compatibility({}) is None  # nothing to check: the operator reads no CRD for it
    workload = {"kind": launcher.kind, "metadata": {"name": "r1"}, "spec": {}}
    stop = launcher.stop([workload])
    assert stop.message and (stop.patches or stop.deletes)
    assert launcher.stop([]).message == ""
