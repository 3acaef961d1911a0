"""Graph structure shared by models and distillation: meta-path chains and neighbour pairs."""
