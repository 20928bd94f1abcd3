"""Training and evaluation: loop, checkpoints, distributed, metrics."""
