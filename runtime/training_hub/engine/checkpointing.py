"""Checkpoints of the native engine: full training state, Hugging Face checkpoints, the final model, resume,
and the object-storage mirror.

:class:`Checkpointing` is the part of :class:`~training_hub.engine.trainer.Trainer` that writes and reads
them (the trainer inherits it); the directory protocol (temporary directory, atomic commit, pruning) is
:mod:`training_hub.engine.checkpoint`.
"""

from __future__ import annotations

import json
import logging
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np

from training_hub import errors
from training_hub.engine import checkpoint as ckpt
from training_hub.engine.callbacks import invoke
from training_hub.engine.config import EngineConfig
from training_hub.engine.distributed import DistContext, barrier
from training_hub.engine.hub_events import HubEvents
from training_hub.engine.lora_merge import save_merged
from training_hub.engine.model_setup import ModelBundle
from training_hub.engine.optim import load_scheduler_state
from training_hub.errors import InvalidInputError

log = logging.getLogger("training_hub.engine")


class Checkpointing:
    """Saving, loading and mirroring checkpoints (collective where the model is sharded).

    Reads the trainer's configuration and keeps the bookkeeping the training loop consults (which steps
    were saved last, the directories written).
    """

    cfg: EngineConfig
    ctx: DistContext
    p: Any
    hub: HubEvents
    callbacks: list[Any]
    hf_dir: Path
    state_dir: Path
    mirror: Any
    _hf_saved: list[str]
    _state_saved: list[str]
    _last_hf_step: int
    _last_state_step: int
    _num_dataset_samples: int

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
        self.fire_saved(final, kind)
        return final

    def fire_saved(self, path: Path, kind: str) -> None:
        """``on_save`` for a committed checkpoint: its ``checkpoint_path`` and ``kind``, and ``mirrored_to``
        (the ``checkpoint_storage`` URI) where this process mirrors it already, so that a callback that
        uploads checkpoints (upstream's ``RemoteCheckpointSyncCallback``) does not upload it a second time."""
        metrics: dict[str, str] = {"checkpoint_path": str(path), "kind": kind}
        if self.mirror is not None:
            metrics["mirrored_to"] = self.mirror.uri
        self.hub.fire("on_save", metrics)

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

    def save_final(
        self, bundle: ModelBundle, tokenizer: Any, opt: Any, sched: Any, progress: dict[str, Any]
    ) -> None:
        """After the last step: the full state (unless this step's is saved) and ``hf_format/final``
        (a link or copy of this step's Hugging Face checkpoint where one was just written); then wait for
        the mirror's uploads."""
        step = progress["step"]
        if self._last_state_step != step:  # e.g. a restart of a finished run whose last state is older
            self.save_full_state(bundle, opt, sched, progress)
        final_dir = self.hf_dir / "final"
        if self._last_hf_step == step and self._hf_saved and self.ctx.is_main:
            src = Path(self._hf_saved[-1])
            tmp = ckpt.begin(final_dir)
            ckpt.link_or_copy_tree(src, tmp)
            if bundle.lora and getattr(self.p, "merge_adapter", False):
                save_merged(bundle.unwrapped, tmp / "merged")
                tokenizer.save_pretrained(str(tmp / "merged"))
            ckpt.commit(final_dir)
            barrier(self.ctx)
            self._checkpointed(final_dir, "final")
            self.fire_saved(final_dir, "final")
        elif self._last_hf_step == step and self._hf_saved:
            barrier(self.ctx)
            self.fire_saved(final_dir, "final")
        else:
            self.save_hf(bundle, final_dir, "final")
        self._drain_mirror()
