"""The training loop of the native engine: data, steps, metrics, checkpoints, resume and preemption."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from training_hub import errors
from training_hub.callbacks import TrainingHubControl, split_callbacks
from training_hub.data import BatchPlanner, DataStats, TokenizedDataset, collate_packed, prepare_dataset
from training_hub.data.options import data_options
from training_hub.engine import checkpoint as ckpt
from training_hub.engine import hooks
from training_hub.engine.callbacks import invoke, set_current_model
from training_hub.engine.config import EngineConfig
from training_hub.engine.distributed import DistContext, barrier, broadcast_object
from training_hub.engine.evaluation import setup_evaluation
from training_hub.engine.hub_events import HubEvents, payload_callbacks
from training_hub.engine.lora_merge import save_merged
from training_hub.engine.model_setup import ModelBundle, build_model, load_tokenizer
from training_hub.engine.optim import build_optimizer, build_scheduler, load_scheduler_state
from training_hub.engine.packed_attention import packed_kwargs, packed_rows
from training_hub.engine.peak_memory import peak_memory_bytes
from training_hub.engine.token_loss import summed_token_loss
from training_hub.errors import InvalidInputError, TrainingHubError
from training_hub.observability.auto import runtime_callbacks, worker_endpoint
from training_hub.observability.console import StepPrinter
from training_hub.observability.guards import LossGuard
from training_hub.pod import exit_codes

log = logging.getLogger("training_hub.engine")

METRICS_FILE = "training_metrics.jsonl"


class Preempted(TrainingHubError):
    """SIGTERM arrived: a full checkpoint was saved after the current step. Exit code 143."""

    exit_code = exit_codes.TERMINATED


class Trainer:
    """Runs one training job in this process (one rank of a torchrun job, or a single process)."""

    def __init__(self, cfg: EngineConfig, ctx: DistContext, callbacks: list[Any] | None = None) -> None:
        self.cfg = cfg
        self.ctx = ctx
        self.p = cfg.params
        hub, engine_callbacks = split_callbacks(callbacks)
        self.callbacks = engine_callbacks if ctx.is_main else []
        # TrainingHubCallback hooks (upstream's contract): every rank holds them, each decides where it runs.
        self.hub = HubEvents(hub + payload_callbacks(), ctx.is_main, str(cfg.ckpt_dir))
        # Observability: a loss guard on every rank (all ranks see the same reduced loss, so they stop
        # together), step output as a bar or plain lines, and the pod's progress reporter / metrics
        # exporter on rank 0 (configured by the environment; see docs/observability.md).
        self.guard = LossGuard.from_env()
        self.printer = StepPrinter()
        if ctx.is_main:
            from training_hub.observability.trackers import experiment_trackers

            trackers = experiment_trackers(self.p.model_dump(), str(cfg.ckpt_dir))
            self.callbacks = runtime_callbacks(cfg.algorithm) + trackers + self.callbacks
        elif ctx.local_rank == 0:
            self._worker_endpoint = worker_endpoint(cfg.algorithm)
        self.hf_dir = cfg.ckpt_dir / "hf_format"
        self.state_dir = cfg.ckpt_dir / "full_state"
        self.metrics_path = cfg.ckpt_dir / METRICS_FILE
        self._stop_requested = False
        self._hf_saved: list[str] = []
        self._state_saved: list[str] = []
        self._last_hf_step = -1
        self._last_state_step = -1
        self.mirror: Any = None  # a CheckpointMirror on rank 0 when checkpoint_storage is set
        # The training objective when it is not next-token cross-entropy (dpo: preference pairs).
        self.objective: Any = None
        if cfg.algorithm == "dpo":
            from training_hub.engine.dpo import DPOObjective

            self.objective = DPOObjective(cfg, ctx)

    # ----------------------------------------------------------------------------------------- data
    def _prepare_data(
        self, tokenizer: Any, data_path: str | None = None
    ) -> tuple[TokenizedDataset, DataStats]:
        data_path = data_path or self.p.data_path
        kwargs: dict[str, Any] = {
            "max_seq_len": self.p.max_seq_len,
            "overlong_policy": self.p.overlong_policy,
            "is_pretraining": self.p.is_pretraining,
            "block_size": self.p.block_size,
            "output_dir": self.cfg.data_output_dir,
            # data_format, unmask_roles, keys, alpaca_as_text, messages_as_text (upstream's names included)
            **data_options(self.p.model_dump(), self.cfg.algorithm),
        }
        prepare: Any = prepare_dataset if self.objective is None else self.objective.prepare
        status: tuple[str, str] = ("ok", "")
        result: tuple[TokenizedDataset, DataStats] | None = None
        error: BaseException | None = None
        if self.ctx.is_main:
            try:
                result = prepare(data_path, tokenizer, **kwargs)
            except Exception as exc:
                error = exc
                name = type(exc).__name__ if isinstance(exc, TrainingHubError) else "TrainingHubError"
                status = (name, str(exc))
        status = broadcast_object(self.ctx, status)
        if error is not None:
            raise error
        if status[0] != "ok":
            raise getattr(errors, status[0], TrainingHubError)(status[1])
        if result is None:
            result = prepare(data_path, tokenizer, **kwargs)
        return result

    # ------------------------------------------------------------------------------------- state io
    def _rng_state(self) -> dict[str, Any]:
        import torch

        state: dict[str, Any] = {
            "python": random.getstate(),
            "numpy": np.random.get_state(),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda"] = torch.cuda.get_rng_state_all()
        return state

    def _set_rng_state(self, state: dict[str, Any]) -> None:
        import torch

        random.setstate(state["python"])
        np.random.set_state(state["numpy"])
        torch.set_rng_state(state["torch"])
        if "cuda" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda"])

    def _state_dict_options(self) -> Any:
        from torch.distributed.checkpoint.state_dict import StateDictOptions

        return StateDictOptions(full_state_dict=True, cpu_offload=True)

    def _full_model_state(self, bundle: ModelBundle) -> dict[str, Any]:
        """Full CPU state dict (collective under FSDP; every rank must call)."""
        from torch.distributed.checkpoint.state_dict import get_model_state_dict

        if self.cfg.strategy == "fsdp" and self.ctx.distributed:
            return get_model_state_dict(bundle.model, options=self._state_dict_options())
        return {k: v.detach().cpu() for k, v in bundle.unwrapped.state_dict().items()}

    def _trainable_names(self, bundle: ModelBundle) -> set[str]:
        return {n for n, q in bundle.unwrapped.named_parameters() if q.requires_grad}

    def save_full_state(self, bundle: ModelBundle, opt: Any, sched: Any, progress: dict[str, Any]) -> Path:
        """Write `full_state/samples_<N>` (collective)."""
        import torch
        from torch.distributed.checkpoint.state_dict import get_optimizer_state_dict

        final = self.state_dir / f"samples_{progress['samples_seen']}"
        tmp = ckpt.tmp_dir_for(final)
        if self.ctx.is_main:
            ckpt.begin(final)
        barrier(self.ctx)
        model_sd = self._full_model_state(bundle)
        if bundle.lora:
            keep = self._trainable_names(bundle)
            model_sd = {k: v for k, v in model_sd.items() if k in keep}
        if self.cfg.strategy == "fsdp" and self.ctx.distributed:
            opt_sd = get_optimizer_state_dict(bundle.model, opt, options=self._state_dict_options())
        else:
            opt_sd = opt.state_dict()
        (tmp / "rng").mkdir(parents=True, exist_ok=True)  # parents: a node whose output directory is its own
        torch.save(self._rng_state(), tmp / "rng" / f"rank_{self.ctx.rank}.pt")
        if self.ctx.is_main:
            torch.save(model_sd, tmp / "model.pt")
            torch.save(opt_sd, tmp / "optimizer.pt")
            torch.save(sched.state_dict(), tmp / "scheduler.pt")
            state = dict(progress)
            state.update(
                algorithm=self.cfg.algorithm,
                world_size=self.ctx.world_size,
                seed=self.p.seed,
                effective_batch_size=self.p.effective_batch_size,
                num_dataset_samples=self._num_dataset_samples,
                lora_only_trainable=bundle.lora,
            )
            (tmp / "trainer_state.json").write_text(json.dumps(state, indent=1))
        barrier(self.ctx)
        if self.ctx.is_main:
            ckpt.commit(final)
            ckpt.prune(self.state_dir, self.p.keep_last_checkpoints)
            log.info("saved full state %s", final)
        barrier(self.ctx)
        self._state_saved.append(str(final))
        self._last_state_step = progress["step"]
        if self.ctx.is_main:
            self._checkpointed(final, "full_state")
        return final

    def load_full_state(self, path: Path, bundle: ModelBundle, opt: Any, sched: Any) -> dict[str, Any]:
        """Restore model, optimizer, scheduler and RNG from `full_state/samples_<N>`; return its progress."""
        import torch
        from torch.distributed.checkpoint.state_dict import (
            StateDictOptions,
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        state = json.loads((path / "trainer_state.json").read_text())
        for key, now in (
            ("seed", self.p.seed),
            ("effective_batch_size", self.p.effective_batch_size),
            ("num_dataset_samples", self._num_dataset_samples),
            ("algorithm", self.cfg.algorithm),
        ):
            if state.get(key) != now:
                raise InvalidInputError(
                    f"cannot resume from {path}: it was written with {key}={state.get(key)!r}, this run has "
                    f"{key}={now!r}; use a new ckpt_output_dir (or restore the original settings)"
                )
        model_sd = torch.load(path / "model.pt", map_location="cpu", weights_only=True)
        opt_sd = torch.load(path / "optimizer.pt", map_location="cpu", weights_only=False)
        if self.cfg.strategy == "fsdp" and self.ctx.distributed:
            opts = StateDictOptions(full_state_dict=True, strict=not bundle.lora)
            set_model_state_dict(bundle.model, model_sd, options=opts)
            set_optimizer_state_dict(
                bundle.model, opt, opt_sd, options=StateDictOptions(full_state_dict=True)
            )
        else:
            missing, unexpected = bundle.unwrapped.load_state_dict(model_sd, strict=False)
            if unexpected or (missing and not bundle.lora):
                raise InvalidInputError(
                    f"cannot resume from {path}: model state does not match (missing {missing[:5]}, "
                    f"unexpected {unexpected[:5]})"
                )
            opt.load_state_dict(opt_sd)
        load_scheduler_state(sched, torch.load(path / "scheduler.pt", map_location="cpu", weights_only=False))
        rng_file = path / "rng" / f"rank_{self.ctx.rank}.pt"
        if rng_file.is_file():
            self._set_rng_state(torch.load(rng_file, map_location="cpu", weights_only=False))
        return state

    def save_hf(self, bundle: ModelBundle, final: Path, kind: str) -> Path:
        """Write a Hugging Face checkpoint (LoRA: the adapter) with the tokenizer (collective)."""
        sd = None
        if not bundle.lora and (bundle.osft_modules or self.cfg.strategy == "fsdp"):
            sd = self._full_model_state(bundle)
        if self.ctx.is_main:
            tmp = ckpt.begin(final)
            if bundle.lora:
                bundle.unwrapped.save_pretrained(str(tmp))
                if kind == "final" and getattr(self.p, "merge_adapter", False):
                    save_merged(bundle.unwrapped, tmp / "merged")
                    bundle.tokenizer.save_pretrained(str(tmp / "merged"))
            else:
                if bundle.osft_modules and sd is not None:
                    from training_hub.engine.osft import osft_hf_state_dict

                    sd = osft_hf_state_dict(sd, bundle.osft_modules)
                bundle.unwrapped.save_pretrained(str(tmp), state_dict=sd)
            bundle.tokenizer.save_pretrained(str(tmp))
            ckpt.commit(final)
            if final.parent == self.hf_dir and final.name != "final":
                ckpt.prune(self.hf_dir, self.p.keep_last_checkpoints)
            log.info("saved %s checkpoint %s", kind, final)
        barrier(self.ctx)
        if self.ctx.is_main:
            self._checkpointed(final, kind)
        self.hub.fire("on_save", {"checkpoint_path": str(final), "kind": kind})
        return final

    # ------------------------------------------------------------------------------- object storage
    def _checkpointed(self, path: Path, kind: str) -> None:
        """A checkpoint directory was committed (rank 0): callbacks, then the mirror's upload queue."""
        invoke(self.callbacks, "on_checkpoint", str(path), kind)
        if self.mirror is not None:
            self.mirror.on_checkpoint(str(path), kind)

    def _start_mirror(self) -> None:
        """With `checkpoint_storage`: check the store is usable (rank 0) and restore its newest complete full
        state where the output directory has none: first on rank 0, then on the first rank of every other
        node whose output directory is its own (a pod's scratch volume), so that every rank can load it."""
        uri = self.p.checkpoint_storage
        if not uri:
            return
        from training_hub.storage.mirror import CheckpointMirror

        def restore(verify: bool) -> Any:
            # Only rank 0 logs at INFO: the other nodes' first ranks say what they restored on stderr.
            say = None if verify else (lambda m: print(f"[training_hub] {m}", file=sys.stderr, flush=True))
            mirror = CheckpointMirror(uri, self.cfg.ckpt_dir, **({"say": say} if say else {}))
            if verify:
                mirror.verify()
            mirror.restore_latest(self.state_dir.name)
            return mirror

        self._collectively(lambda: setattr(self, "mirror", restore(True)), self.ctx.is_main)
        self._collectively(lambda: restore(False), self.ctx.local_rank == 0 and not self.ctx.is_main)

    def _collectively(self, fn: Any, here: bool) -> None:
        """Run `fn` on the ranks where `here` is true; every rank raises if it failed on one of them."""
        import torch.distributed as dist

        error: BaseException | None = None
        if here:
            try:
                fn()
            except Exception as exc:
                error = exc
        if self.ctx.distributed:
            messages: list[Any] = [None] * self.ctx.world_size
            dist.all_gather_object(messages, str(error) if error is not None else "")
            failures = [m for m in messages if m]
            if error is None and failures:
                raise errors.InfrastructureError(f"on another rank: {failures[0]}")
        if error is not None:
            raise error

    def _drain_mirror(self) -> None:
        """Wait for the queued uploads (rank 0); raise the first failure."""
        if self.mirror is not None:
            self.mirror.drain()

    # -------------------------------------------------------------------------------------- metrics
    def _truncate_metrics(self, keep_until_step: int) -> dict[str, Any] | None:
        """Keep only metrics lines of steps <= `keep_until_step` (a resumed run rewrites later ones)."""
        if not self.ctx.is_main or not self.metrics_path.exists():
            return None
        kept, last = [], None
        for raw in self.metrics_path.read_text().splitlines():
            try:
                row = json.loads(raw)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict) and int(row.get("step", 0)) <= keep_until_step:
                kept.append(raw)
                last = row
        tmp = self.metrics_path.with_name(f".{METRICS_FILE}.tmp")
        tmp.write_text("".join(line + "\n" for line in kept))
        os.replace(tmp, self.metrics_path)
        return last

    def _write_metrics(self, row: dict[str, Any]) -> None:
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")
        self.printer.step(row)

    # ------------------------------------------------------------------------------------- signals
    def _on_sigterm(self, signum: int, frame: Any) -> None:
        self._stop_requested = True
        print("[training_hub] SIGTERM: checkpointing after the current step", file=sys.stderr, flush=True)

    def _stop_agreed(self, control: TrainingHubControl) -> tuple[bool, bool, bool]:
        """Whether SIGTERM arrived, and whether a callback asked to save / to stop, on any rank."""
        import torch
        import torch.distributed as dist

        flags = [self._stop_requested, control.should_save, control.should_training_stop]
        if not self.ctx.distributed:
            return flags[0], flags[1], flags[2]
        tensor = torch.tensor([int(f) for f in flags], device=self.ctx.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
        agreed = [bool(v) for v in tensor.tolist()]
        return agreed[0], agreed[1], agreed[2]

    # ---------------------------------------------------------------------------------------- train
    def run(self) -> dict[str, Any]:
        """Train and return the summary."""
        import torch
        import torch.distributed as dist

        p, ctx, cfg = self.p, self.ctx, self.cfg
        start_time = time.time()
        if ctx.is_main:
            cfg.ckpt_dir.mkdir(parents=True, exist_ok=True)
        self._start_mirror()
        tokenizer = load_tokenizer(p.model_path)
        dataset, stats = self._prepare_data(tokenizer)
        dataset, evaluator, eval_schedule = setup_evaluation(
            cfg.algorithm,
            p,
            dataset,
            lambda path: self._prepare_data(tokenizer, path)[0],
            cfg.max_tokens_per_gpu,
            ctx,
        )
        last_eval: dict[str, float] = {}
        self._num_dataset_samples = len(dataset)
        if ctx.is_main:
            log.info("%s", stats.summary())
        planner = BatchPlanner(
            dataset.lengths,
            dataset.num_targets,
            p.effective_batch_size,
            cfg.max_tokens_per_gpu,
            ctx.world_size,
            p.seed,
        )
        spe = planner.steps_per_epoch
        total_steps = spe * p.num_epochs
        if p.max_steps is not None:
            total_steps = min(total_steps, p.max_steps)

        bundle = build_model(cfg, ctx, tokenizer)
        set_current_model(bundle.unwrapped)
        params = [q for q in bundle.model.parameters() if q.requires_grad]
        opt = build_optimizer(params, p)
        sched = build_scheduler(opt, p, total_steps)

        progress: dict[str, Any] = {
            "step": 0,
            "epoch": 0,
            "samples_seen": 0,
            "tokens_seen": 0,
            "elapsed": 0.0,
        }
        resumed_from = ckpt.latest_checkpoint(self.state_dir)
        if resumed_from is not None:
            state = self.load_full_state(resumed_from, bundle, opt, sched)
            progress = {k: state[k] for k in progress}
            self._last_state_step = progress["step"]
            if ctx.is_main:
                log.info(
                    "resuming from %s at step %d (%d samples seen)",
                    resumed_from,
                    progress["step"],
                    progress["samples_seen"],
                )
        last_row = self._truncate_metrics(progress["step"])
        barrier(ctx)

        pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
        )
        autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if cfg.bf16 and cfg.device_type == "cuda"
            else nullcontext()
        )
        objective = self.objective
        if objective is not None:
            objective.setup(bundle, dataset, autocast, pad_id)
        is_ddp = ctx.distributed and cfg.strategy == "ddp"
        is_fsdp = ctx.distributed and cfg.strategy == "fsdp"
        max_norm = p.max_grad_norm or float("inf")  # 0: no clipping
        save_every = p.save_samples
        prev_handler = None
        if p.enable_jit_checkpoint is True:  # upstream's default: off (a TrainingRun's pods: on)
            try:
                prev_handler = signal.signal(signal.SIGTERM, self._on_sigterm)
            except ValueError:  # not the main thread
                prev_handler = None

        final_loss = last_row.get("loss") if last_row else None
        session_start = time.time()
        base_elapsed = float(progress["elapsed"])
        bundle.model.train()
        hub = self.hub
        hub.step, hub.epoch, hub.loss = progress["step"], progress["step"] // spe, final_loss
        hub.fire("on_train_begin")
        try:
            step = progress["step"]
            first = True
            while step < total_steps:
                t0 = time.time()
                epoch, in_epoch = divmod(step, spe)
                hub.step, hub.epoch = step, epoch
                if in_epoch == 0 or first:  # a resumed run begins its epoch mid-way
                    hub.fire("on_epoch_begin")
                first = False
                hub.fire("on_step_begin")
                plan = planner.step_batches(epoch, in_epoch)
                micro = plan.rank_micro_batches[ctx.rank]
                # SFT: mean over trained tokens; an objective (dpo): mean over samples (pairs).
                denom = max(plan.num_targets if objective is None else plan.num_samples, 1)
                local_loss = torch.zeros((), dtype=torch.float64, device=ctx.device)
                for j, indices in enumerate(micro):
                    last = j == len(micro) - 1
                    if objective is not None:
                        with bundle.model.no_sync() if is_ddp and not last else nullcontext():
                            if is_fsdp:
                                bundle.model.set_requires_gradient_sync(last)
                            scale = ctx.world_size / denom
                            local_loss += objective.micro_batch(
                                bundle.model, bundle, indices, autocast, scale, pad_id
                            )
                        continue
                    batch = {
                        k: torch.from_numpy(v).to(ctx.device)
                        for k, v in collate_packed(dataset, indices, pad_id).items()
                    }
                    sync_ctx: Any = nullcontext()
                    if is_ddp and not last:
                        sync_ctx = bundle.model.no_sync()
                    if is_fsdp:
                        bundle.model.set_requires_gradient_sync(last)
                    with sync_ctx:
                        with autocast, packed_rows():
                            out = bundle.model(
                                input_ids=batch["input_ids"],
                                position_ids=batch["position_ids"],
                                use_cache=False,
                                **packed_kwargs(batch["position_ids"]),
                            )
                        ce = summed_token_loss(out.logits, batch["targets"])
                        (ce * (ctx.world_size / denom)).backward()
                    local_loss += ce.detach().to(torch.float64)
                for mod in bundle.osft_modules.values():
                    mod.project_gradients()
                grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
                if hasattr(grad_norm, "full_tensor"):
                    grad_norm = grad_norm.full_tensor()
                lr = float(opt.param_groups[0]["lr"])
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                for mod in bundle.osft_modules.values():
                    mod.project_parameters()
                if ctx.distributed:
                    dist.all_reduce(local_loss)
                loss = float(local_loss.item()) / denom if plan.num_targets else 0.0
                objective_metrics = {} if objective is None else objective.step_metrics(plan.num_samples)
                step += 1
                progress["step"] = step
                progress["epoch"] = epoch
                progress["samples_seen"] += plan.num_samples
                progress["tokens_seen"] += plan.num_tokens
                progress["elapsed"] = base_elapsed + (time.time() - session_start)
                final_loss = loss
                hooks.fire("step_trained", step=step, rank=ctx.rank, micro_batches=micro)
                step_end = time.time()
                evaluation: dict[str, float] = {}
                if (
                    evaluator
                    and eval_schedule
                    and eval_schedule.due(step, in_epoch == spe - 1, step == total_steps)
                ):
                    evaluation = last_eval = evaluator.evaluate(bundle.model, autocast, _logits)
                if ctx.is_main:
                    dt = max(step_end - t0, 1e-9)
                    gn = float(grad_norm.item())
                    row = {
                        "step": step,
                        "total_steps": total_steps,
                        "epoch": epoch,
                        "loss": loss,
                        "lr": lr,
                        "grad_norm": gn if math.isfinite(gn) else None,
                        "tokens": plan.num_tokens,
                        "trained_tokens": plan.num_targets,
                        "num_samples": plan.num_samples,
                        "samples_seen": progress["samples_seen"],
                        "tokens_per_second": plan.num_tokens / dt,
                        "elapsed": progress["elapsed"],
                        "micro_batches": len(micro),
                        "steps_per_epoch": spe,
                        **objective_metrics,
                        **peak_memory_bytes(ctx.device),
                        **evaluation,
                    }
                    self._write_metrics(row)
                    invoke(self.callbacks, "on_step", row)
                hub.step, hub.loss, hub.learning_rate = step, loss, lr
                # Hugging Face Trainer's order (upstream's): on_step_end, then on_log / on_evaluate / on_save.
                hub.fire("on_step_end")
                hub.fire(
                    "on_log", row if ctx.is_main else {"step": step, "epoch": epoch, "loss": loss, "lr": lr}
                )
                if evaluation:
                    hub.fire("on_evaluate", evaluation, loss=evaluation.get("eval_loss"))
                self.guard.check(step, loss)

                epoch_end = in_epoch == spe - 1
                if epoch_end:
                    hub.fire("on_epoch_end")
                crossed = save_every > 0 and (
                    progress["samples_seen"] // save_every
                    > (progress["samples_seen"] - plan.num_samples) // save_every
                )
                stop, asked_save, asked_stop = self._stop_agreed(hub.control)
                hub.control.should_save = hub.control.should_training_stop = False
                if (epoch_end and p.checkpoint_at_epoch) or crossed:
                    self.save_hf(bundle, self.hf_dir / f"samples_{progress['samples_seen']}", "hf")
                    self._last_hf_step = step
                    self._hf_saved.append(str(self.hf_dir / f"samples_{progress['samples_seen']}"))
                    self.save_full_state(bundle, opt, sched, progress)
                elif stop or asked_save or step == total_steps:
                    state_path = self.save_full_state(bundle, opt, sched, progress)
                    if asked_save:  # a callback's save (JITCheckpointCallback): on_save names the state
                        hub.fire("on_save", {"checkpoint_path": str(state_path), "kind": "full_state"})
                if asked_stop and not (stop or asked_save):
                    log.info("a callback stopped training after step %d", step)
                    break  # the final model is written below
                stop = stop or asked_stop
                if stop:
                    self._drain_mirror()
                    hub.fire("on_train_end", {"preempted": True, "step": step})
                    raise Preempted(
                        f"preempted by SIGTERM after step {step}: full state saved in "
                        f"{self.state_dir / ('samples_' + str(progress['samples_seen']))}"
                    )
                hooks.fire("step_done", step=step, rank=ctx.rank)
            if self._last_state_step != step:  # e.g. a restart of a finished run whose last state is older
                self.save_full_state(bundle, opt, sched, progress)
            final_dir = self.hf_dir / "final"
            if self._last_hf_step == step and self._hf_saved and ctx.is_main:
                src = Path(self._hf_saved[-1])
                tmp = ckpt.begin(final_dir)
                ckpt.link_or_copy_tree(src, tmp)
                if bundle.lora and getattr(p, "merge_adapter", False):
                    save_merged(bundle.unwrapped, tmp / "merged")
                    tokenizer.save_pretrained(str(tmp / "merged"))
                ckpt.commit(final_dir)
                barrier(ctx)
                self._checkpointed(final_dir, "final")
                hub.fire("on_save", {"checkpoint_path": str(final_dir), "kind": "final"})
            elif self._last_hf_step == step and self._hf_saved:
                barrier(ctx)
                hub.fire("on_save", {"checkpoint_path": str(final_dir), "kind": "final"})
            else:
                self.save_hf(bundle, final_dir, "final")
            self._drain_mirror()
        finally:
            if prev_handler is not None:
                signal.signal(signal.SIGTERM, prev_handler)
            set_current_model(None)

        summary = {
            "algorithm": cfg.algorithm,
            "final_loss": final_loss,
            "final_eval_loss": last_eval.get("eval_loss"),
            "steps": progress["step"],
            "total_steps": total_steps,
            "epochs": p.num_epochs,
            "samples_seen": progress["samples_seen"],
            "tokens_seen": progress["tokens_seen"],
            "checkpoints": self._hf_saved,
            "full_state_checkpoints": self._state_saved,
            "output_model_path": str(self.hf_dir / "final"),
            "metrics_path": str(self.metrics_path),
            "resumed_from": str(resumed_from) if resumed_from else None,
            "data_stats": asdict(stats),
            "world_size": ctx.world_size,
            "elapsed": time.time() - start_time,
        }
        if self.mirror is not None:
            from training_hub.storage.uri import join

            summary["checkpoint_storage"] = self.mirror.uri
            summary["mirrored"] = list(self.mirror.uploaded)
            summary["output_model_uri"] = join(self.mirror.uri, ckpt.FINAL_MODEL_SUBDIR)
        if ctx.is_main:
            invoke(self.callbacks, "on_train_end", summary)
        hub.fire("on_train_end", {k: v for k, v in summary.items() if k != "data_stats"})
        return summary


def _logits(model: Any, batch: dict[str, Any]) -> Any:
    """The model's logits on a packed batch (the training forward, used by the evaluator)."""
    with packed_rows():
        out = model(
            input_ids=batch["input_ids"],
            position_ids=batch["position_ids"],
            use_cache=False,
            **packed_kwargs(batch["position_ids"]),
        )
    return out.logits
