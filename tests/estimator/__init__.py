"""Tests of the memory estimator and GPU planner."""
