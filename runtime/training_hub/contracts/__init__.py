"""The contracts between the operator, the training pod and the library: one module for each.

* :mod:`training_hub.contracts.kinds`: API groups, versions, kinds and plurals (the TrainingRun API,
  Kubeflow's and Kubernetes' kinds) and :class:`~training_hub.contracts.kinds.ResourceKind`;
* :mod:`training_hub.contracts.pod_env`: the environment variables a training pod reads (set by the
  operator, the pod entrypoint or torchrun);
* :mod:`training_hub.contracts.progress`: the shape of ``TrainingRun.status.progress`` (pydantic);
* :mod:`training_hub.contracts.errors`: a pydantic validation error as user-facing lines;
* :mod:`training_hub.pod.exit_codes`: the exit codes of a training pod;
* :mod:`training_hub.storage.uri`: every storage location a run names (``pvc://``, ``hf://``, ...).

Each module imports only the standard library and pydantic (the operator imports them);
``tests/runtime/test_contracts_literals.py`` refuses copies of their literals elsewhere.
"""
