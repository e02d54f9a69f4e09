"""Adapters that carry :class:`~training_hub.callbacks.TrainingHubCallback` into each training engine.

* :mod:`~training_hub.adapters.serialize`: the callback payload file that crosses the torchrun boundary.
* :mod:`~training_hub.adapters.distributed`: context mapping and dispatch inside a training process.
* :mod:`~training_hub.adapters.unsloth`: Hugging Face ``TrainerCallback`` adapters (imports transformers).
* :mod:`~training_hub.adapters.engine_bridge`: the one bridge for instructlab-training's and mini-trainer's
  ``TrainingArgs.callbacks``, which :mod:`~training_hub.adapters.instructlab` and
  :mod:`~training_hub.adapters.mini_trainer` export under upstream's names.

Module names and functions follow upstream training_hub 0.11 so that code written against it works.
"""
