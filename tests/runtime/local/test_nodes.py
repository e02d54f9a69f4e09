"""Node objects of the local kubelet look like a GPU cluster's (``training_hub.local.nodes``)."""

from __future__ import annotations

import pytest

from training_hub.local.nodes import GPU_RESOURCE, GPU_TAINT, NodeSpec

pytestmark = pytest.mark.unit


def test_gpu_node_advertises_gpus_labels_and_taint() -> None:
    node = NodeSpec.gpu("gpu-a").manifest()
    status = node["status"]
    assert status["capacity"][GPU_RESOURCE] == "8" and status["allocatable"][GPU_RESOURCE] == "8"
    labels = node["metadata"]["labels"]
    assert (
        labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3" and labels["nvidia.com/gpu.count"] == "8"
    )
    assert labels["kubernetes.io/hostname"] == "gpu-a"
    assert node["spec"]["taints"] == [GPU_TAINT]
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True" and ready["reason"] == "KubeletReady"


def test_cpu_node_has_no_gpu_resource_and_no_taint() -> None:
    node = NodeSpec("cpu").manifest()
    assert GPU_RESOURCE not in node["status"]["capacity"] and node["spec"] == {}
    assert NodeSpec("t", taints=()).manifest()["spec"] == {}
