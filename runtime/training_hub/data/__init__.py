"""Training data: JSONL formats, exact label masking, caching, and padding-free batching by token budget.

torch is not imported here (numpy only); see `docs/data-formats.md`.
"""

from training_hub.data.chat_render import ChatRenderer
from training_hub.data.dataset import DataStats, TokenizedDataset, prepare_dataset
from training_hub.data.formats import FORMATS, Record, detect_format, read_records
from training_hub.data.labels import IGNORE_INDEX
from training_hub.data.sampler import BatchPlanner, StepPlan, collate_packed

__all__ = [
    "FORMATS",
    "IGNORE_INDEX",
    "BatchPlanner",
    "ChatRenderer",
    "DataStats",
    "Record",
    "StepPlan",
    "TokenizedDataset",
    "collate_packed",
    "detect_format",
    "prepare_dataset",
    "read_records",
]
