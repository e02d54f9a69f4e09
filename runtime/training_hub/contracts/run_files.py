"""Files a training run writes into its output folder that other parts read by name.

Writers: the native engine (:mod:`training_hub.engine.metrics_file`) and the backends that wrap other trainers
(``unsloth``, ``sentence-transformers``). Readers: the storage mirror (uploads it with each checkpoint),
``training-hub plot-loss`` (:mod:`training_hub.visualization`), the upstream-layout summary and the tests.
"""

from __future__ import annotations

#: One JSON object per optimizer step (``step``, ``loss``, ``lr``, ...), in ``<ckpt_output_dir>/``.
METRICS_FILE = "training_metrics.jsonl"
