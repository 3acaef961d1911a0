"""Inputs for new target nodes, from their edge lists: what `run.py derive-inputs` writes for `run.py predict`.

A new node brings its own raw features (when the target type has any) and its edges to nodes already in the
graph: a Parquet table with `node` (int64, the new node's id), `relation` (a snapshot relation touching the
target type) and `neighbour` (int64, the id of the existing node it joins, in that node type's id space). For
a student with one-hop neighbour inputs, the registered model takes the node's raw features followed by its
neighbour blocks (hg2m.student_inputs): this module derives those rows and writes them as a node table
(`id`, sparse `feat_idx` + `feat_val`) that `run.py predict` reads. Cost: linear in the new nodes' edges.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import scipy.sparse as sp
import torch
from mlflow.exceptions import MlflowException

from hg2m.data.snapshot import ID_COLUMN, node_table, write_parquet
from hg2m.serving import PredictError, batch_features, open_node_table, open_parquet
from hg2m.student_inputs import InputLayout, derive_inputs

EDGE_COLUMNS = ("node", "relation", "neighbour")


def read_edges(path: Path) -> pa.Table:
    """The new nodes' edge list, or a PredictError naming the file and what is wrong."""
    table = open_parquet(path).read()
    missing = [c for c in EDGE_COLUMNS if c not in table.column_names]
    if missing:
        raise PredictError(f"{path}: columns {missing} missing (an edge list has {list(EDGE_COLUMNS)})")
    return table


def read_own_features(path: Path | None, ids: np.ndarray, layout: InputLayout) -> np.ndarray | None:
    """(len(ids), own_dim) raw features of the new nodes, in the order of `ids`, from a node table (`id` plus dense
    `feat` or sparse `feat_idx` + `feat_val`, read and checked as `run.py predict` reads them); None when the target
    type has no features."""
    if not layout.own_dim:
        return None
    if path is None:
        raise PredictError(f"the student reads {layout.own_dim} own features of each {layout.target_type!r} node: "
                           "pass them with --nodes (a node table: id, feat or feat_idx + feat_val)")
    source, columns = open_node_table(path)
    table = source.read(columns=[ID_COLUMN, *columns]).combine_chunks()
    position = {int(i): row for row, i in enumerate(table.column(ID_COLUMN).to_numpy())}
    absent = [int(i) for i in ids if int(i) not in position]
    if absent:
        raise PredictError(f"{path}: no row for new node(s) {absent[:5]} of the edge list")
    try:
        dense = batch_features(table.to_batches()[0], columns, layout.own_dim, first_row=0)
    except MlflowException as err:
        raise PredictError(f"{path}: {err.message}") from None
    return dense[np.array([position[int(i)] for i in ids], dtype=np.int64)]


def new_node_inputs(layout: InputLayout, edges: pa.Table, own_path: Path | None,
                    neighbour_features: dict[str, torch.Tensor]) -> tuple[np.ndarray, torch.Tensor]:
    """(new node ids, sorted; (n, width) rows as the registered model takes them)."""
    nodes = edges.column("node").to_numpy()
    ids = np.unique(nodes)
    row_of = np.searchsorted(ids, nodes)
    relation = np.asarray(edges.column("relation").to_pylist(), dtype=object)
    neighbour = edges.column("neighbour").to_numpy().astype(np.int64)
    grouped = [(name, row_of[relation == name], neighbour[relation == name]) for name in np.unique(relation)]
    own = read_own_features(own_path, ids, layout)
    try:
        rows = derive_inputs(layout, own, grouped, neighbour_features, num_rows=len(ids))
    except ValueError as err:
        raise PredictError(str(err)) from None
    return ids, rows


def write_inputs(ids: np.ndarray, rows: torch.Tensor, path: Path) -> None:
    """A node table (`id`, sparse `feat_idx` + `feat_val`) of the rows, for `run.py predict`."""
    csr = sp.csr_matrix(rows.to_dense().numpy())
    table, _ = node_table(len(ids), csr)
    write_parquet(table.set_column(0, ID_COLUMN, pa.array(ids.astype(np.int64))), path)
