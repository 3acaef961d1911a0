"""ZenML materializers for hg2m's own artifact types; the file formats are hg2m's (see README)."""

from __future__ import annotations

from typing import Any, ClassVar

from zenml.enums import ArtifactType
from zenml.materializers.base_materializer import BaseMaterializer
from zenml.utils import io_utils

from hg2m.data.graph import HeteroGraphData
from hg2m.data.snapshot import GraphSnapshot, read_snapshot, write_snapshot


class FolderMaterializer(BaseMaterializer):
    """Writes an object as a folder in a local temp dir, then copies it into the artifact store."""

    SKIP_REGISTRATION: ClassVar[bool] = True  # a base class, not registered for any type

    def write_folder(self, data: Any, folder: str) -> None:
        raise NotImplementedError

    def read_folder(self, folder: str) -> Any:
        raise NotImplementedError

    def save(self, data: Any) -> None:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            self.write_folder(data, temp_dir)
            io_utils.copy_dir(temp_dir, self.uri, overwrite=True)

    def load(self, data_type: type[Any]) -> Any:
        with self.get_temporary_directory(delete_at_exit=True) as temp_dir:
            io_utils.copy_dir(self.uri, temp_dir, overwrite=True)
            return self.read_folder(temp_dir)


class GraphSnapshotMaterializer(FolderMaterializer):
    """A snapshot artifact is a snapshot folder: manifest.json, nodes/*.parquet, edges/*.parquet."""

    ASSOCIATED_TYPES: ClassVar[tuple[type[Any], ...]] = (GraphSnapshot,)
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def write_folder(self, data: GraphSnapshot, folder: str) -> None:
        write_snapshot(data, folder)

    def read_folder(self, folder: str) -> GraphSnapshot:
        return read_snapshot(folder)

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
    ASSOCIATED_ARTIFACT_TYPE: ClassVar[ArtifactType] = ArtifactType.DATA

    def write_folder(self, data: HeteroGraphData, folder: str) -> None:
        data.save(folder)

    def read_folder(self, folder: str) -> HeteroGraphData:
        return HeteroGraphData.load(folder)

    def extract_metadata(self, data: HeteroGraphData) -> dict[str, Any]:
        return {"snapshot_hash": data.snapshot_hash, "num_nodes": int(data.graph.num_nodes()),
                "num_edges": int(data.graph.num_edges())}
