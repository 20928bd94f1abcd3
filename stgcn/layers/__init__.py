"""MessagePassing layers: one per file."""
