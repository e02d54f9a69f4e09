"""The images a local node "has", and what the kubelet says about every other one.

There is no container runtime here: :class:`ImageStore` is the node's image store, set explicitly (the
images a test says the node has, e.g. the runtime image). Any other image is pulled, and the pull fails (no
registry is reachable from a test node), answered as kubelet 1.20 answers (``pkg/kubelet/images/
image_manager.go``, ``EnsureImageExists``; ``pkg/kubelet/images/types.go``):

* the first attempt: waiting reason ``ErrImagePull``, message the runtime's error (containerd's CRI for a
  missing image: ``rpc error: code = NotFound desc = failed to pull and unpack image "<ref>": failed to
  resolve reference "<ref>": <ref>: not found``);
* within the back-off after a failure (``flowcontrol.NewBackOff(10s, 300s)`` of ``kubelet.go``: 10 s,
  doubling up to 5 min): reason ``ImagePullBackOff``, message ``Back-off pulling image "<image>"``; once it
  has passed, the next attempt fails again with ``ErrImagePull``;
* ``imagePullPolicy: Never`` and the image absent: ``ErrImageNeverPull``, ``Container image "<image>" is
  not present with pull policy of Never``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

#: Back-off of image pulls in kubelet 1.20 (``backOffPeriod`` and ``MaxContainerBackOff``).
BACKOFF_INITIAL_SECONDS = 10.0
BACKOFF_MAX_SECONDS = 300.0


def _reference(image: str) -> str:
    """The fully qualified reference containerd resolves (``docker.io/library/x:latest`` for ``x``)."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    if not digest and ":" not in last:
        name += ":latest"
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = f"docker.io/library/{name}"
    elif not ("." in first or ":" in first or first == "localhost"):
        name = f"docker.io/{name}"
    return f"{name}@{digest}" if digest else name


@dataclass(frozen=True)
class PullResult:
    """A container that cannot start for its image: the waiting ``reason`` and the kubelet's ``message``."""

    reason: str
    message: str


@dataclass
class ImageStore:
    """The images a node has; :meth:`ensure` answers for any other as the kubelet does.

    Args:
        images: Image references present on the node (as written in pod specs).
        clock: Monotonic seconds (for the back-off).
    """

    images: frozenset[str]
    clock: Callable[[], float] = time.monotonic
    _backoff: dict[str, tuple[float, float]] = field(default_factory=dict)

    @classmethod
    def of(cls, images: Iterable[str]) -> ImageStore:
        """A store holding ``images``."""
        return cls(frozenset(images))

    def ensure(self, pod_uid: str, image: str, pull_policy: str | None) -> PullResult | None:
        """None when the image is present; else why the container waits (``ErrImagePull`` on an attempt,
        ``ImagePullBackOff`` within the back-off after one, ``ErrImageNeverPull``)."""
        if image in self.images:
            return None
        if pull_policy == "Never":
            return PullResult(
                "ErrImageNeverPull", f'Container image "{image}" is not present with pull policy of Never'
            )
        key = f"{pod_uid}_{image}"  # the kubelet's backOffKey
        now = self.clock()
        last, period = self._backoff.get(key, (0.0, 0.0))
        if period and now - last < period:
            return PullResult("ImagePullBackOff", f'Back-off pulling image "{image}"')
        period = min(period * 2, BACKOFF_MAX_SECONDS) if period else BACKOFF_INITIAL_SECONDS
        self._backoff[key] = (now, period)
        ref = _reference(image)
        return PullResult(
            "ErrImagePull",
            f'rpc error: code = NotFound desc = failed to pull and unpack image "{ref}": failed to resolve '
            f'reference "{ref}": {ref}: not found',
        )
