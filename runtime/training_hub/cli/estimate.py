"""``training-hub estimate``: per-GPU memory breakdown and the recommended nodes x GPUs plan.

Exit codes: 0 when a layout fits, 1 when nothing fits (suggestions are printed), 3 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys

from training_hub.errors import InvalidInputError

_METHODS = ("sft", "osft", "lora", "qlora", "lora_sft")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``estimate`` options to ``parser``."""
    parser.add_argument("--method", "--training-method", dest="method", required=True, choices=_METHODS)
    parser.add_argument(
        "--model",
        "--model-path",
        dest="model",
        required=True,
        help="Model directory, config.json path, or hub id (needs --allow-download).",
    )
    parser.add_argument("--allow-download", action="store_true", help="Fetch only config.json from the hub.")
    gpu = parser.add_mutually_exclusive_group()
    gpu.add_argument("--gpu", help="GPU product: A100-80GB, H100, L40S, A10G, T4, ...")
    gpu.add_argument("--gpu-memory", help="GPU memory: bytes or a size such as 80GiB (default: A100-80GB).")
    parser.add_argument("--max-tokens-per-gpu", type=int, help="Tokens per micro-batch per GPU.")
    parser.add_argument("--max-seq-len", type=int, help="Longest sample (token budget when none is given).")
    parser.add_argument("--batch-size", type=int, help="Samples per micro-batch (with --max-seq-len).")
    parser.add_argument("--liger", action="store_true", help="Liger kernels (no logits tensor).")
    parser.add_argument(
        "--unfreeze-rank-ratio", type=float, default=0.25, help="OSFT trainable rank fraction."
    )
    parser.add_argument("--lora-r", type=int, default=32, help="LoRA rank.")
    parser.add_argument("--dtype", choices=("bf16", "fp32"), default="bf16")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    parser.add_argument("--strategy", choices=("auto", "ddp", "fsdp"), default="auto")
    parser.add_argument("--activation-checkpointing", action="store_true")
    parser.add_argument(
        "--engine",
        choices=("native", "peft", "instructlab-training", "mini-trainer", "unsloth"),
        help="Model this engine's memory behaviour (weights, sharding, checkpointing, Liger); "
        "default: the generic model",
    )
    parser.add_argument("--max-gpus-per-node", type=int, default=8)
    parser.add_argument("--max-nodes", type=int, help="Most nodes to consider (default 64).")
    parser.add_argument("--nodes", type=int, help="Fix the number of nodes.")
    parser.add_argument("--gpus-per-node", type=int, help="Fix the GPUs per node.")
    parser.add_argument("--headroom", type=float, default=0.1, help="Fraction of GPU memory kept free.")
    parser.add_argument("--json", action="store_true", help="Print the estimate and plan as JSON.")


def run(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code."""
    from pydantic import ValidationError

    from training_hub.contracts.errors import validation_message
    from training_hub.estimator import (
        EstimateInputs,
        estimate_from_inputs,
        gpu_memory_for_product,
        parse_gpu_memory,
        plan,
    )
    from training_hub.estimator.report import format_estimate, format_plan

    try:
        if args.gpu:
            memory = gpu_memory_for_product(args.gpu)
        else:
            memory = parse_gpu_memory(args.gpu_memory or "A100-80GB")
        method = "lora" if args.method == "lora_sft" else args.method
        inputs = EstimateInputs.model_validate(
            {
                "training_method": method,
                "model_path": args.model,
                "allow_download": args.allow_download,
                "max_tokens_per_gpu": args.max_tokens_per_gpu,
                "max_seq_len": args.max_seq_len,
                "batch_size": args.batch_size,
                "use_liger": args.liger,
                "unfreeze_rank_ratio": args.unfreeze_rank_ratio,
                "lora_r": args.lora_r,
                "dtype": args.dtype,
                "device": args.device,
                "distributed_strategy": args.strategy,
                "activation_checkpointing": args.activation_checkpointing,
                "engine": args.engine,
            }
        )
        if inputs.max_tokens_per_gpu is None and inputs.max_seq_len is None:
            raise InvalidInputError("give --max-tokens-per-gpu or --max-seq-len")
        result = plan(
            inputs,
            memory,
            max_gpus_per_node=args.max_gpus_per_node,
            headroom=args.headroom,
            nodes=args.nodes,
            gpus_per_node=args.gpus_per_node,
            max_nodes=args.max_nodes,
        )
        est = estimate_from_inputs(inputs, result.total_gpus, memory)
    except ValidationError as exc:
        print(f"error: invalid input: {validation_message(exc)}", file=sys.stderr)
        return InvalidInputError.exit_code
    except InvalidInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.json:
        payload = {
            "estimate": {
                "low": est.low,
                "expected": est.expected,
                "high": est.high,
                "breakdown": est.breakdown.model_dump(),
                "assumptions": est.assumptions.model_dump(),
            },
            "plan": result.model_dump(),
        }
        print(json.dumps(payload, indent=2))
    else:
        print(format_estimate(est))
        print()
        print(format_plan(result))
    return 0 if result.fits else 1


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point (``python -m training_hub.cli.estimate``)."""
    parser = argparse.ArgumentParser(prog="training-hub estimate", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
