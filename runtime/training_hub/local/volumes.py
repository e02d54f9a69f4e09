"""Materialise a pod's volumes under a local directory that stands for the pod's ``/``.

=========================  ===========================================================================
volume                     local stand-in
=========================  ===========================================================================
``configMap`` / ``secret``   a directory with one file per key (secrets only when given to the executor)
``persistentVolumeClaim``    ``<pvc root>/<claimName>`` (shared by every pod of the run, as a RWX claim)
``emptyDir``                 a fresh directory per pod (``medium: Memory`` included, e.g. ``/dev/shm``)
``hostPath``                 the host path itself
=========================  ===========================================================================

Each ``volumeMount`` becomes a symlink ``<pod root>/<mountPath>`` -> the volume's directory (``subPath``
honoured); the pod process gets ``TRAINING_HUB_MOUNT_ROOT=<pod root>`` and resolves its absolute paths
under it (see :mod:`training_hub.pod.mounts`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from training_hub.local.pods import LocalExecutionError, LocalPod


class VolumeMaterializer:
    """Builds the local file tree of pods.

    Args:
        root: Working directory of the executor (pods go to ``<root>/pods/<name>``).
        pvc_root: Where claims live (``<pvc_root>/<claim>``); default ``<root>/pvc``.
        pvc_dirs: Explicit directories for some claims (override ``pvc_root``).
        configmaps: ConfigMap data by name.
        secrets: Secret data by name.
    """

    def __init__(
        self,
        root: Path,
        *,
        pvc_root: Path | None = None,
        pvc_dirs: Mapping[str, Path] | None = None,
        configmaps: Mapping[str, Mapping[str, str]] | None = None,
        secrets: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.root = Path(root)
        self.pvc_root = Path(pvc_root) if pvc_root else self.root / "pvc"
        self.pvc_dirs = {k: Path(v) for k, v in (pvc_dirs or {}).items()}
        self.configmaps = configmaps if configmaps is not None else {}
        self.secrets = secrets if secrets is not None else {}

    def claim_dir(self, claim: str) -> Path:
        """The local directory of a PersistentVolumeClaim."""
        return self.pvc_dirs.get(claim, self.pvc_root / claim)

    def pod_root(self, pod: LocalPod) -> Path:
        """The directory standing for the pod's ``/``."""
        return self.root / "pods" / pod.name / "fs"

    def _files(self, where: Path, data: Mapping[str, str], volume: Mapping[str, Any]) -> None:
        items = volume.get("items")
        mapping = {i["key"]: i.get("path", i["key"]) for i in items} if items else {k: k for k in data}
        where.mkdir(parents=True, exist_ok=True)
        for key, rel in mapping.items():
            if key not in data:
                if volume.get("optional"):
                    continue
                raise LocalExecutionError(f"key {key!r} missing from {where.name}")
            target = where / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(data[key], encoding="utf-8")

    def _keys_as_files(
        self, own: Path, ref: Mapping[str, Any], data: Mapping[str, str] | None, missing: str
    ) -> Path:
        """Fill the fresh directory ``own`` with one file per key of a ConfigMap's or Secret's data.

        Args:
            own: The volume's directory (emptied first).
            ref: The volume's ``configMap`` / ``secret`` source (``items``, ``optional``).
            data: The object's data; None when the executor does not have the object.
            missing: The error message when ``data`` is None and the volume is not optional.

        Returns:
            ``own``.

        Raises:
            LocalExecutionError: With ``missing``, or when a key the volume lists is absent.
        """
        if data is None and not ref.get("optional"):
            raise LocalExecutionError(missing)
        shutil.rmtree(own, ignore_errors=True)
        self._files(own, data or {}, ref)
        return own

    def volume_dir(self, pod: LocalPod, volume: Mapping[str, Any]) -> Path:
        """Create (or find) the local directory of one of the pod's volumes."""
        name = str(volume["name"])
        own = self.root / "pods" / pod.name / "volumes" / name
        if "persistentVolumeClaim" in volume:
            path = self.claim_dir(str(volume["persistentVolumeClaim"]["claimName"]))
            path.mkdir(parents=True, exist_ok=True)
            return path
        needs = f"pod {pod.name}: volume {name} needs"
        if "configMap" in volume:
            ref = volume["configMap"]
            data = self.configmaps.get(str(ref.get("name")))
            return self._keys_as_files(own, ref, data, f"{needs} ConfigMap {ref.get('name')!r}")
        if "secret" in volume:
            ref = volume["secret"]
            data = self.secrets.get(str(ref.get("secretName")))
            missing = (
                f"{needs} Secret {ref.get('secretName')!r}, which is not available locally "
                "(give it to the executor)"
            )
            return self._keys_as_files(own, ref, data, missing)
        if "hostPath" in volume:
            return Path(str(volume["hostPath"]["path"]))
        if "emptyDir" in volume or "downwardAPI" in volume or "projected" in volume:
            own.mkdir(parents=True, exist_ok=True)
            return own
        raise LocalExecutionError(
            f"pod {pod.name}: volume {name} has a type local execution does not support"
        )

    def materialize(self, pod: LocalPod, container: Mapping[str, Any]) -> Path:
        """Build the pod's file tree for ``container`` and return the pod root.

        Args:
            pod: The pod.
            container: The container whose ``volumeMounts`` are linked.

        Returns:
            The directory standing for the pod's ``/`` (``TRAINING_HUB_MOUNT_ROOT``).
        """
        fs = self.pod_root(pod)
        fs.mkdir(parents=True, exist_ok=True)
        volumes = {str(v["name"]): v for v in pod.spec.get("volumes") or []}
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(str(mount["name"]))
            if volume is None:
                raise LocalExecutionError(f"pod {pod.name}: volumeMount {mount['name']} names no volume")
            source = self.volume_dir(pod, volume)
            if mount.get("subPath"):
                source = source / str(mount["subPath"])
                if not source.suffix:
                    source.mkdir(parents=True, exist_ok=True)
            target = fs / str(mount["mountPath"]).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            if target.is_symlink() or target.is_file():
                target.unlink()
            elif target.is_dir():
                shutil.rmtree(target)
            os.symlink(source.resolve(), target, target_is_directory=source.is_dir())
        return fs
