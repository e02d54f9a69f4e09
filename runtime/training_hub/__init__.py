"""training_hub: algorithm-first LLM fine-tuning (placeholder; the API helper fills this in)."""
