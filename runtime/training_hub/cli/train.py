"""``training-hub sft|osft|lora-sft|embedding-sft|dpo --config run.yaml [--flag value ...]``: train from the command line.

Flags are generated from the algorithm's parameter model (:mod:`training_hub.cli.params_flags`); a YAML
config may set the same parameters (names with ``-`` or ``_``) and flags override it. Invalid parameters
print one line per problem and exit 2, before anything is trained.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from pydantic import ValidationError

from training_hub.algorithms.validation import ValidatedParams, format_validation_error, given_params
from training_hub.cli.params_flags import add_model_flags, given_flags, load_config
from training_hub.cli.params_flags import normalize_argv as normalize_flag_spelling
from training_hub.errors import InvalidInputError, TrainingHubError
from training_hub.params import (
    HYPERPARAMETER_MODELS,
    DataLocations,
    DistributedParams,
    EmbeddingDataLocations,
    param_model,
    validate_params,
)
from training_hub.pod import exit_codes

#: CLI subcommand name -> algorithm name.
COMMANDS: dict[str, str] = {
    "sft": "sft",
    "osft": "osft",
    "lora-sft": "lora_sft",
    "embedding-sft": "embedding_sft",
    "dpo": "dpo",
}


def add_arguments(parser: argparse.ArgumentParser, algorithm: str = "sft") -> None:
    """Add ``--config`` and one flag per parameter of ``algorithm``."""
    parser.set_defaults(algorithm=algorithm)
    parser.add_argument(
        "--config",
        metavar="YAML",
        help="YAML file of parameters (same names as the flags); flags given here override it",
    )
    hyper = HYPERPARAMETER_MODELS[algorithm]
    locations = EmbeddingDataLocations if algorithm == "embedding_sft" else DataLocations
    add_model_flags(parser.add_argument_group("where the model and data are"), locations)
    add_model_flags(parser.add_argument_group("hyperparameters"), hyper)
    add_model_flags(
        parser.add_argument_group("distributed (torchrun; default from PET_* / MASTER_* env)"),
        DistributedParams,
    )
    known = set(locations.model_fields) | set(hyper.model_fields) | set(DistributedParams.model_fields)
    rest = tuple(known)
    add_model_flags(parser.add_argument_group("backend"), param_model(algorithm), skip=rest)


def normalize_argv(argv: list[str]) -> list[str]:
    """Accept ``--field_name`` spellings of the generated flags."""
    return normalize_flag_spelling(argv)


def collect_params(args: argparse.Namespace) -> dict[str, Any]:
    """The algorithm's parameters: the YAML config, overridden by the flags given."""
    model = param_model(args.algorithm)
    values: dict[str, Any] = {}
    if getattr(args, "config", None):
        values.update(load_config(args.config, model, f"{args.algorithm}"))
    values.update(given_flags(args, model))
    return values


def run(args: argparse.Namespace) -> int:
    """Validate, then train; return the process exit code."""
    algorithm = args.algorithm
    command = algorithm.replace("_", "-")
    try:
        collected = collect_params(args)
        values = ValidatedParams(algorithm, given_params(collected), validate_params(algorithm, collected))
    except InvalidInputError as err:
        print(f"training-hub {command}: error: {err}", file=sys.stderr)
        return exit_codes.USAGE
    except ValidationError as err:
        message = format_validation_error(err, f"training-hub {command}", flag_style=True)
        print(f"training-hub {command}: error: {message}", file=sys.stderr)
        return exit_codes.USAGE
    from training_hub.algorithms.base import run_algorithm

    try:
        result = run_algorithm(algorithm, values)  # validated above: not again
    except TrainingHubError as err:
        print(f"training-hub {command}: error: {err}", file=sys.stderr)
        return err.exit_code
    if isinstance(result, dict):
        print(json.dumps(result, indent=2, default=str))
    return 0
