"""New nodes' inputs from an edge list and a node table: what `run.py derive-inputs` writes for `predict`."""

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from hg2m.config import GraphConfig
from hg2m.data.graph import build_graph_data
from hg2m.data.snapshot import node_table
from hg2m.new_nodes import new_node_inputs
from hg2m.serving import PredictError
from hg2m.student_inputs import derive_inputs, input_layout

OWN = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]], dtype=np.float32)  # new nodes 10 and 11, in that order


def write_nodes(path, features, ids=(11, 10)):
    table, _ = node_table(len(ids), features)
    pq.write_table(table.set_column(0, "id", pa.array(np.array(ids, dtype=np.int64))), path)
    return path


@pytest.mark.parametrize("sparse", [False, True])
def test_new_node_rows_are_derive_inputs_rows_from_either_node_table(tiny_snapshot, tmp_path, sparse):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    layout = input_layout(data, "own+neighbours")
    edges = pa.table({"node": [10, 11, 10], "relation": ["paper_author"] * 3, "neighbour": [0, 2, 3]})
    features = OWN[::-1]  # the node table lists 11 before 10
    nodes = write_nodes(tmp_path / "nodes.parquet", sp.csr_matrix(features) if sparse else features)
    ids, rows = new_node_inputs(layout, edges, nodes, data.features)
    assert ids.tolist() == [10, 11]
    expected = derive_inputs(layout, OWN, [("paper_author", np.array([0, 1, 0]), np.array([0, 2, 3]))],
                             data.features, num_rows=2)
    np.testing.assert_array_equal(rows.to_dense().numpy(), expected.to_dense().numpy())


def test_new_node_features_that_are_missing_or_the_wrong_width_are_named(tiny_snapshot, tmp_path):
    data = build_graph_data(tiny_snapshot, GraphConfig())
    layout = input_layout(data, "own+neighbours")
    edges = pa.table({"node": [10, 12], "relation": ["paper_author"] * 2, "neighbour": [0, 1]})
    nodes = write_nodes(tmp_path / "nodes.parquet", OWN)
    with pytest.raises(PredictError, match=r"nodes.parquet: no row for new node\(s\) \[12\]"):
        new_node_inputs(layout, edges, nodes, data.features)
    narrow = write_nodes(tmp_path / "narrow.parquet", OWN[:, :2], ids=(10, 12))
    with pytest.raises(PredictError, match=r"narrow.parquet: expected 3 features per node, got 2"):
        new_node_inputs(layout, edges, narrow, data.features)
    with pytest.raises(PredictError, match="pass them with --nodes"):
        new_node_inputs(layout, edges, None, data.features)
