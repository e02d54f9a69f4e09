"""What runs inside a training pod: the run spec the operator writes and the entrypoint that reads it."""
