"""Object storage: one implementation for the library's ``checkpoint_storage`` and the operator's ``s3://``.

* :mod:`training_hub.storage.uri`: the parser of every location a run names (``pvc://``, ``hf://``,
  ``tiny://``, ``s3://``, absolute paths); standard library only, the operator imports it.
* :mod:`training_hub.storage.objectstore`: fsspec filesystems, the access check, :class:`StorageError`.
* :mod:`training_hub.storage.mirror`: checkpoint mirroring with completion markers, and restore.
* :mod:`training_hub.storage.staging`: an ``s3://`` model or data set staged into the pod.
* :mod:`training_hub.storage.transfer`: progress lines of a transfer.

See ``docs/storage.md``.
"""
