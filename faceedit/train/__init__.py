"""Training scripts (boundaries, mask-guided generator)."""
