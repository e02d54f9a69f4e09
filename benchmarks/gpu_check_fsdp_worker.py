"""One rank of a 2-rank FSDP2 forward under bf16 autocast (gloo on CPU, NCCL with ``--cuda``).

Used by ``tests/runtime/engine/test_precision_fsdp.py`` (CPU) and the GPU check's ``fsdp_mixed_precision``
line. Usage: ``torchrun --nproc-per-node 2 benchmarks/gpu_check_fsdp_worker.py OUT_JSON [--cuda]``. Shards an 8-layer tiny Llama with
the engine's :func:`shard_fsdp` (with and without the bf16 mixed-precision policy), runs one forward under
``torch.autocast(bf16)`` and reports, per rank, the bytes of 2-D bf16 tensors autograd keeps for backward
whose storage is still allocated after the forward (weight copies; FSDP's gathered parameters are freed
by resharding).
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    import torch
    import torch.distributed as dist
    from transformers import LlamaConfig, LlamaForCausalLM

    from training_hub.engine.model_setup import shard_fsdp

    cuda = "--cuda" in sys.argv[2:]
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if cuda:
        torch.cuda.set_device(local_rank)
    device = f"cuda:{local_rank}" if cuda else "cpu"
    dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank()
    result: dict[str, int] = {}
    for bf16_policy in (False, True):
        torch.manual_seed(0)
        config = LlamaConfig(
            hidden_size=128,
            intermediate_size=256,
            num_hidden_layers=8,
            num_attention_heads=4,
            num_key_value_heads=2,
            vocab_size=512,
        )
        model = LlamaForCausalLM(config)
        shard_fsdp(model, device, bf16=bf16_policy)
        saved: list[torch.Tensor] = []

        def pack(t: torch.Tensor, saved: list[torch.Tensor] = saved) -> torch.Tensor:
            if t.dtype == torch.bfloat16 and t.dim() == 2:
                saved.append(t)
            return t

        ids = torch.randint(0, 512, (1, 64), device=device)
        hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
        with hooks, torch.autocast(device.split(":")[0], dtype=torch.bfloat16):
            out = model(input_ids=ids, use_cache=False)
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in saved}
        result["policy" if bf16_policy else "autocast_only"] = sum(storages.values())
        out.logits.float().sum().backward()  # the step completes either way
        del out
        saved.clear()
    if rank == 0:
        layer_weights = sum(p.numel() for n, p in model.named_parameters() if "layers." in n)
        result["layer_weight_bf16_bytes"] = 2 * int(layer_weights)
        with open(sys.argv[1], "w") as fh:
            json.dump(result, fh)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
