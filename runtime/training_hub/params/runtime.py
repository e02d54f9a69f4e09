"""Run settings that are neither tuning nor locations: experiment trackers and torchrun."""

from __future__ import annotations

from pydantic import Field

from training_hub.params.base import StrictParams


class TrackerParams(StrictParams):
    """Experiment trackers, upstream training_hub's names. A tracker is on when one of its keywords is set
    (MLflow and W&B also from `MLFLOW_TRACKING_URI`/`MLFLOW_EXPERIMENT_NAME`/`WANDB_PROJECT`, as upstream).
    """

    wandb_project: str | None = Field(None, min_length=1, description="Weights & Biases project name.")
    wandb_entity: str | None = Field(None, min_length=1, description="Weights & Biases team/entity name.")
    wandb_run_name: str | None = Field(None, min_length=1, description="Weights & Biases run name.")
    tensorboard_log_dir: str | None = Field(
        None, min_length=1, description="Directory for TensorBoard event files."
    )
    mlflow_tracking_uri: str | None = Field(
        None, min_length=1, description="MLflow tracking URI (a server, or `file://` for a local store)."
    )
    mlflow_experiment_name: str | None = Field(None, min_length=1, description="MLflow experiment name.")
    mlflow_run_name: str | None = Field(None, min_length=1, description="MLflow run name.")


class DistributedParams(StrictParams):
    """torchrun settings. Precedence: explicit value > environment (`PET_*`, `MASTER_*`) > default."""

    nproc_per_node: int | str | None = Field(
        None, description="Processes per node: an integer, `auto` or `gpu` (GPU count; needs CUDA)."
    )
    nnodes: int | None = Field(None, ge=1, description="Number of nodes.")
    node_rank: int | None = Field(None, ge=0, description="Rank of this node.")
    rdzv_id: str | int | None = Field(None, description="Rendezvous id (c10d).")
    rdzv_endpoint: str | None = Field(None, description="Rendezvous endpoint host:port (c10d).")
    master_addr: str | None = Field(None, description="Master address (static rendezvous).")
    master_port: int | None = Field(None, ge=1, le=65535, description="Master port.")
