"""Backends: the engines that run an algorithm.

* ``native`` (sft, osft) and ``peft`` (lora_sft): the portable engine :mod:`training_hub.engine`, CPU or
  GPU, launched under torchrun when more than one process is needed (:mod:`training_hub.backends.launch`).
* ``instructlab-training`` (sft), ``mini-trainer`` (osft), ``unsloth`` (lora_sft): adapters to the upstream
  engines (CUDA only). Each translates parameter names in one pure function that unit tests check without
  a GPU; a parameter the engine cannot honour is an error, never dropped.

Submodules are imported by :mod:`training_hub.algorithms`; none imports torch at import time.
"""
