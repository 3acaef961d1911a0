"""A student input kind's rows for every target node, once per snapshot (hg2m.student_inputs)."""

from typing import Annotated

from zenml import log_metadata, step

from hg2m.config import InputKind
from hg2m.contracts import InputMatrix
from hg2m.data.graph import HeteroGraphData
from hg2m.student_inputs import build_inputs, input_layout
from steps.materializers import InputMatrixMaterializer


@step(output_materializers=InputMatrixMaterializer)
def student_inputs(graph: HeteroGraphData, kind: InputKind,
                   max_bag_ids: int) -> Annotated[InputMatrix, "student_inputs"]:
    """`graph` has preprocessed features: mean blocks average the transformed neighbour features."""
    layout = input_layout(graph, kind, max_bag_ids=max_bag_ids)
    matrix = build_inputs(graph, layout)
    log_metadata(metadata={"kind": kind, "width": layout.width, "blocks": list(layout.offsets()),
                           "nonzeros": int(matrix._nnz()) if matrix.is_sparse else int(matrix.numel())})
    return InputMatrix(layout=layout, matrix=matrix)
