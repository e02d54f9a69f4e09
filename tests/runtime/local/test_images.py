"""The local node's image store answers as kubelet 1.20's image manager (``pkg/kubelet/images``)."""

from __future__ import annotations

import pytest

from training_hub.local.images import BACKOFF_INITIAL_SECONDS, ImageStore

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_present_images_start_and_others_fail_then_back_off_doubling() -> None:
    clock = Clock()
    store = ImageStore(frozenset({"quay.io/training-hub/runtime:0.3"}), clock)
    assert store.ensure("u1", "quay.io/training-hub/runtime:0.3", "IfNotPresent") is None

    first = store.ensure("u1", "trainer", "IfNotPresent")
    assert first is not None and first.reason == "ErrImagePull"
    # containerd's CRI error for a missing image, with the reference it resolved.
    assert first.message == (
        'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/trainer:latest": '
        'failed to resolve reference "docker.io/library/trainer:latest": docker.io/library/trainer:latest: '
        "not found"
    )
    clock.now += 1
    backoff = store.ensure("u1", "trainer", "IfNotPresent")
    assert backoff is not None and backoff.reason == "ImagePullBackOff"
    assert backoff.message == 'Back-off pulling image "trainer"'
    # Another pod of the same image has its own back-off (the key is pod uid + image).
    other = store.ensure("u2", "trainer", None)
    assert other is not None and other.reason == "ErrImagePull"

    clock.now += BACKOFF_INITIAL_SECONDS  # the 10 s back-off has passed: a new attempt fails again
    again = store.ensure("u1", "trainer", "IfNotPresent")
    assert again is not None and again.reason == "ErrImagePull"
    clock.now += BACKOFF_INITIAL_SECONDS + 1  # within the doubled (20 s) back-off
    later = store.ensure("u1", "trainer", "IfNotPresent")
    assert later is not None and later.reason == "ImagePullBackOff"


def test_pull_policy_never_and_references() -> None:
    store = ImageStore.of([])
    never = store.ensure("u", "registry.example.com/team/trainer:v9", "Never")
    assert never is not None and never.reason == "ErrImageNeverPull"
    assert (
        never.message
        == 'Container image "registry.example.com/team/trainer:v9" is not present with pull policy of Never'
    )
    for image, ref in [
        ("org/x", "docker.io/org/x:latest"),
        ("localhost:5000/x", "localhost:5000/x:latest"),
        ("ghcr.io/o/x@sha256:ab", "ghcr.io/o/x@sha256:ab"),
        ("ghcr.io/o/x:1", "ghcr.io/o/x:1"),
    ]:
        pulled = store.ensure("u", image, "Always")
        assert pulled is not None and f'image "{ref}"' in pulled.message, (image, pulled)
