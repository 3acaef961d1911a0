"""Distillation-input steps: capped meta-path neighbour pairs and per-run reliability scores."""
