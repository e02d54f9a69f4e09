"""training_hub_operator: the kopf operator for TrainingRun."""
