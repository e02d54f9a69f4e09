"""The ``training-hub`` command line (see :mod:`training_hub.cli.main`)."""
