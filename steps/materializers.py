"""ZenML materializers for hg2m's own artifact types; the file formats are hg2m's (docs/snapshot-format.md)."""

from __future__ import annotations

from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.utils import io_utils

from hg2m.contracts import InputMatrix, TeacherRun
from hg2m.data.graph import HeteroGraphData
from hg2m.data.snapshot import GraphSnapshot


class FolderMaterializer(BaseMaterializer):
    """An object written as a folder by its own `save(folder)` and read back by `type.load(folder)`: written to a
    local temp dir, then copied into the artifact store (and the other way round)."""

    SKIP_REGISTRATION: ClassVar[bool] = True  # a base class, not registered for any type
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def save(self, data: Any) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            data.save(temp_dir)
            io_utils.copy_dir(temp_dir, self.uri, overwrite=True)

    def load(self, data_type: type[Any]) -> Any:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            io_utils.copy_dir(self.uri, temp_dir, overwrite=True)
            return data_type.load(temp_dir)


class GraphSnapshotMaterializer(FolderMaterializer):
    """A snapshot artifact is a snapshot folder: manifest.json, nodes/*.parquet, edges/*.parquet."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (GraphSnapshot,)

    def extract_metadata(self, data: GraphSnapshot) -> dict[str, Any]:
        manifest = data.manifest
        return {
            "content_hash": manifest.content_hash,
            "target_type": manifest.target_type,
            "node_counts": {t: info.count for t, info in manifest.node_types.items()},
            "edge_counts": {r.name: r.num_edges for r in manifest.relations},
        }


class HeteroGraphDataMaterializer(FolderMaterializer):
    """A graph artifact: DGL's binary graph file plus a torch file of features, labels and splits."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (HeteroGraphData,)

    def extract_metadata(self, data: HeteroGraphData) -> dict[str, Any]:
        return {"snapshot_hash": data.snapshot_hash, "num_nodes": int(data.graph.num_nodes()),
                "num_edges": int(data.graph.num_edges())}


class TeacherRunMaterializer(FolderMaterializer):
    """A teacher run: its soft labels as Parquet (`id`, `logit_<c>`), its embeddings (if any) as a torch file."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (TeacherRun,)

    def extract_metadata(self, data: TeacherRun) -> dict[str, Any]:
        return {"target_nodes": int(data.logits.shape[0]), "classes": int(data.logits.shape[1]),
                "embedding_types": sorted(data.embeddings or {})}


class InputMatrixMaterializer(FolderMaterializer):
    """A student input kind: its layout as JSON and its (N, width) rows as a torch file."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (InputMatrix,)

    def extract_metadata(self, data: InputMatrix) -> dict[str, Any]:
        return {"kind": data.layout.kind, "width": data.layout.width, "sparse": bool(data.matrix.is_sparse)}
