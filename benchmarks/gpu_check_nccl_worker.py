"""One rank of the GPU check's ``nccl_watchdog`` line: a collective that times out must end the rank with
the retryable exit code 4, not a watchdog SIGABRT.

Rank 1 sleeps past the process group's timeout before joining an all-reduce that rank 0 is already in.
Run as ``torchrun --nproc-per-node 2 benchmarks/gpu_check_nccl_worker.py`` with
``TRAINING_HUB_EXIT_CODE_DIR`` set; each rank records its exit code there.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import timedelta


def main() -> int:
    import torch
    import torch.distributed as dist

    from training_hub.engine.__main__ import is_peer_failure
    from training_hub.engine.distributed import apply_nccl_error_handling

    local_rank = int(os.environ["LOCAL_RANK"])
    torch.cuda.set_device(local_rank)
    apply_nccl_error_handling()
    dist.init_process_group("nccl", timeout=timedelta(seconds=15))
    x = torch.ones(1024, device=f"cuda:{local_rank}")
    dist.all_reduce(x)  # warm: both ranks present
    torch.cuda.synchronize()
    try:
        if dist.get_rank() == 1:
            time.sleep(45)
        dist.all_reduce(x)
        torch.cuda.synchronize()
        dist.barrier()
    except Exception as exc:  # noqa: BLE001 - the point is which exceptions arrive
        if is_peer_failure(exc):
            return 4
        raise
    return 0


if __name__ == "__main__":
    from training_hub.engine.__main__ import exit_now
    from training_hub.pod.exit_codes import record_exit_code

    code = main()
    record_exit_code(code)
    sys.stdout.flush()
    exit_now(code)
