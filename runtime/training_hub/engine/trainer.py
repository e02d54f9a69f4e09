"""The training loop of the native engine: data, steps, metrics, checkpoints, resume and preemption."""

from __future__ import annotations

import logging
import math
import signal
import sys
import time
from contextlib import nullcontext
from dataclasses import asdict
from typing import Any

from training_hub import errors
from training_hub.callbacks import TrainingHubControl, split_callbacks
from training_hub.data import BatchPlanner, DataStats, TokenizedDataset, prepare_dataset
from training_hub.data.options import data_options
from training_hub.engine import checkpoint as ckpt
from training_hub.engine import hooks
from training_hub.engine.callbacks import invoke, set_current_model
from training_hub.engine.checkpointing import Checkpointing
from training_hub.engine.config import EngineConfig
from training_hub.engine.distributed import DistContext, barrier, broadcast_object
from training_hub.engine.evaluation import setup_evaluation
from training_hub.engine.hub_events import HubEvents, payload_callbacks
from training_hub.engine.metrics_file import METRICS_FILE, append_metrics, truncate_metrics
from training_hub.engine.model_setup import build_model, load_tokenizer
from training_hub.engine.optim import build_optimizer, build_scheduler
from training_hub.engine.packed_attention import packed_kwargs, packed_rows
from training_hub.engine.peak_memory import peak_memory_bytes
from training_hub.engine.train_step import train_step
from training_hub.errors import TrainingHubError
from training_hub.observability.auto import runtime_callbacks, worker_endpoint
from training_hub.observability.console import StepPrinter
from training_hub.observability.guards import LossGuard
from training_hub.pod import exit_codes

log = logging.getLogger("training_hub.engine")


class Preempted(TrainingHubError):
    """SIGTERM arrived: a full checkpoint was saved after the current step. Exit code 143."""

    exit_code = exit_codes.TERMINATED


class Trainer(Checkpointing):
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
        last_row = truncate_metrics(self.metrics_path, progress["step"]) if ctx.is_main else None
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
                local_loss, grad_norm, lr = train_step(
                    cfg,
                    ctx,
                    bundle,
                    objective,
                    dataset,
                    micro,
                    denom,
                    autocast,
                    pad_id,
                    params,
                    max_norm,
                    opt,
                    sched,
                )
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
                    append_metrics(self.metrics_path, row)
                    self.printer.step(row)
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
                        self.fire_saved(state_path, "full_state")
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
            self.save_final(bundle, tokenizer, opt, sched, progress)
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
