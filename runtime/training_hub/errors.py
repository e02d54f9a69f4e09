"""Exceptions of training_hub, split by who must act: the user (bad input) or the platform (retry)."""

from __future__ import annotations

from training_hub.pod import exit_codes


class TrainingHubError(Exception):
    """Base class of every error training_hub raises on purpose."""

    #: Process exit code used by the pod entrypoint for this kind of error.
    exit_code: int = exit_codes.FAILED


class InvalidInputError(TrainingHubError, ValueError):
    """Bad input a retry cannot fix: invalid parameters, malformed data, missing model. Do not retry."""

    exit_code = exit_codes.INVALID_INPUT


class DataFormatError(InvalidInputError):
    """A data file is malformed; the message names the file and the line."""


class BackendUnavailableError(InvalidInputError):
    """The chosen backend cannot run here (package missing, no CUDA); the message says what to install."""


class InfrastructureError(TrainingHubError):
    """A failure of the environment (rendezvous, network, storage): retrying may succeed."""

    exit_code = exit_codes.INFRASTRUCTURE
