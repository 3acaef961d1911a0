"""hg2m: distil heterogeneous graph neural networks into MLPs. Plain functions that know nothing of ZenML.

From the bottom up: `config` (schemas, YAML) -> `data` (snapshot, validation, graph) and `graphs` (meta-path
pairs) -> `plan` (what a run trains) and `contracts` (typed hand-offs) -> `models`, `inductive`, `distill`
-> `teacher`, `student`, `train`, `evaluate` -> `registry`, `promotion`, `serving`. Imports point down.
"""

import os

# DGL picks its backend at import; pin it so it neither guesses nor prints a warning.
os.environ.setdefault("DGLBACKEND", "pytorch")

__version__ = "0.1.0"
