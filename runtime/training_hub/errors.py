"""Exceptions of training_hub, split by who must act: the user (bad input) or the platform (retry)."""

from __future__ import annotations


class TrainingHubError(Exception):
    """Base class of every error training_hub raises on purpose."""

    #: Process exit code used by the pod entrypoint for this kind of error.
    exit_code: int = 1


class InvalidInputError(TrainingHubError, ValueError):
    """Bad input a retry cannot fix: invalid parameters, malformed data, missing model. Do not retry."""

    exit_code = 3


class DataFormatError(InvalidInputError):
    """A data file is malformed; the message names the file and the line."""


class BackendUnavailableError(InvalidInputError):
    """The chosen backend cannot run here (package missing, no CUDA); the message says what to install."""


class InfrastructureError(TrainingHubError):
    """A failure of the environment (rendezvous, network, storage): retrying may succeed."""

    exit_code = 4
