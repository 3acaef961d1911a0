"""Distillation: losses (and, later, reliability scores and meta-path neighbour sets)."""
