"""Local execution of rendered TrainingRun pods: ``training-hub run tr.yaml --local`` and the e2e tests.

* :mod:`~training_hub.local.workloads` expands rendered workloads (Pod, Job, PyTorchJob, TrainJob) into the
  pods their controllers would create, with the env those controllers inject;
* :mod:`~training_hub.local.executor` runs the pods as local processes (volumes under a local root,
  host names mapped to loopback, retries);
* :mod:`~training_hub.local.kubelet` plays the kubelet for a real API server: it runs the pods the Job
  controller creates and reports their phases back;
* :mod:`~training_hub.local.runner` plans and renders a TrainingRun manifest with the operator's code and
  runs it (the ``run --local`` command).
"""

from training_hub.local.executor import ExecutionResult, LocalExecutor, PodResult
from training_hub.local.pods import LocalExecutionError, LocalPod
from training_hub.local.process import PodProcess
from training_hub.local.workloads import expand

__all__ = [
    "ExecutionResult",
    "LocalExecutionError",
    "LocalExecutor",
    "LocalPod",
    "PodProcess",
    "PodResult",
    "expand",
]
