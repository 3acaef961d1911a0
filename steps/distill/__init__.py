"""distillation inputs: reliability scores and meta-path neighbour sets."""
