"""hg2m: distil heterogeneous graph neural networks into MLPs."""

import os

# DGL picks its backend at import; pin it so it neither guesses nor prints a warning.
os.environ.setdefault("DGLBACKEND", "pytorch")

__version__ = "0.1.0"
