"""Tests of the TrainingRun API and the operator."""
