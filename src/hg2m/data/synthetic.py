"""An IGB-like synthetic heterogeneous graph, streamed in chunks into a snapshot folder.

The graph is described by `SyntheticGraphConfig` (see its docstring for the node types, relations
and how class signal gets into features and edges). Only per-node labels and popularity tables are
held whole (a few bytes per node); features and edges are made and written one chunk of source nodes
at a time, so memory stays bounded however many papers are asked for. The folder is written under a
temporary name, hashed by reading the written files back one column at a time, and renamed into place
only when complete: a failed or interrupted run leaves no snapshot behind.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hg2m.config import SyntheticGraphConfig
from hg2m.data.snapshot import (
    FEAT_COLUMN,
    ID_COLUMN,
    LABEL_COLUMN,
    LABELLED_SPLITS,
    MANIFEST_FILE,
    SPLIT_COLUMN,
    SPLITS,
    UNKNOWN_LABEL,
    UNSPLIT,
    NodeTypeInfo,
    RelationInfo,
    SnapshotManifest,
    dense_feature_column,
    edge_table,
    folder_content_hash,
    id_array,
    label_array,
    split_array,
)

TARGET = "paper"
# (relation, source type, destination type): the IGB heterogeneous schema
RELATIONS = [
    ("cites", "paper", "paper"),
    ("written_by", "paper", "author"),
    ("affiliated_with", "author", "institute"),
    ("has_topic", "paper", "field"),
]
SPLIT_NAMES = np.array(SPLITS, dtype=object)  # a paper's split is stored as its index in here
TRAIN_CODE, VAL_CODE, TEST_CODE = (SPLITS.index(name) for name in LABELLED_SPLITS)
UNSPLIT_CODE = SPLITS.index(UNSPLIT)
PARTIAL_SUFFIX = ".partial"

ProgressCallback = Callable[[str, int, int], None]  # (node type, nodes done, nodes in all)


def node_counts(config: SyntheticGraphConfig) -> dict[str, int]:
    n = config.num_papers
    return {
        "paper": n,
        "author": max(1, round(config.authors_per_paper * n)),
        "institute": max(1, round(config.institutes_per_paper * n)),
        "field": max(1, round(config.fields_per_paper * n)),
    }


@dataclass
class PopularityPool:
    """Draws nodes of one type by power-law popularity, either within a class or among all nodes."""

    order: np.ndarray  # node ids grouped by class, most popular first within each class
    offsets: np.ndarray  # (C + 1,) class c's nodes are order[offsets[c]:offsets[c + 1]]
    class_cdf: np.ndarray  # cumulative popularity within each class segment, each ending at 1
    global_cdf: np.ndarray  # cumulative popularity over `order`, ending at 1

    @classmethod
    def build(cls, rng: np.random.Generator, classes: np.ndarray, num_classes: int, exponent: float) -> "PopularityPool":
        # a random permutation before the stable sort makes the popular nodes of a class random ids
        shuffled = rng.permutation(len(classes))
        order = shuffled[np.argsort(classes[shuffled], kind="stable")]
        offsets = np.searchsorted(classes[order], np.arange(num_classes + 1))
        rank = np.arange(len(order)) - np.repeat(offsets[:-1], np.diff(offsets)) + 1
        weight = rank.astype(np.float64) ** -exponent
        class_cdf = np.empty_like(weight)
        for c in range(num_classes):
            segment = weight[offsets[c] : offsets[c + 1]]
            class_cdf[offsets[c] : offsets[c + 1]] = np.cumsum(segment) / segment.sum() if len(segment) else segment
        global_cdf = np.cumsum(weight) / weight.sum()
        return cls(order=order, offsets=offsets, class_cdf=class_cdf, global_cdf=global_cdf)

    def draw(self, rng: np.random.Generator, classes: np.ndarray, homophily: float) -> np.ndarray:
        """One node per entry of `classes`: of that class with probability `homophily`, else of any class."""
        result = np.empty(len(classes), dtype=np.int64)
        own = rng.random(len(classes)) < homophily
        own &= np.diff(self.offsets)[classes] > 0  # a class without nodes of this type: draw from all
        anywhere = np.flatnonzero(~own)
        result[anywhere] = self.order[self._search(self.global_cdf, rng.random(len(anywhere)))]
        for c in np.unique(classes[own]):
            rows = np.flatnonzero(own & (classes == c))
            start, stop = self.offsets[c], self.offsets[c + 1]
            result[rows] = self.order[start + self._search(self.class_cdf[start:stop], rng.random(len(rows)))]
        return result

    @staticmethod
    def _search(cdf: np.ndarray, u: np.ndarray) -> np.ndarray:
        return np.minimum(np.searchsorted(cdf, u, side="right"), len(cdf) - 1)


@dataclass
class GraphPlan:
    """What is decided for every node up front: classes, splits, popularity and feature centroids."""

    counts: dict[str, int]
    labels: np.ndarray  # (papers,) class of every paper
    home: dict[str, np.ndarray]  # author / field -> home class per node
    split: np.ndarray  # (papers,) index into SPLIT_NAMES
    pools: dict[str, PopularityPool]
    centroids: dict[str, np.ndarray]  # paper: (C, K, D); author, field: (C, d)


def plan_graph(config: SyntheticGraphConfig, rng: np.random.Generator) -> GraphPlan:
    counts, classes = node_counts(config), config.num_classes
    prior = (np.arange(classes) + 1.0) ** -config.class_imbalance
    prior /= prior.sum()
    labels = rng.choice(classes, size=counts["paper"], p=prior)
    home = {t: rng.choice(classes, size=counts[t], p=prior) for t in ("author", "field")}
    split = np.full(counts["paper"], UNSPLIT_CODE, dtype=np.int8)
    chosen = rng.permutation(counts["paper"])[: config.train + config.val + config.test]
    split[chosen[: config.train]] = TRAIN_CODE
    split[chosen[config.train : config.train + config.val]] = VAL_CODE
    split[chosen[config.train + config.val :]] = TEST_CODE
    exponent = config.popularity_exponent
    pools = {
        "paper": PopularityPool.build(rng, labels, classes, exponent),
        "author": PopularityPool.build(rng, home["author"], classes, exponent),
        "field": PopularityPool.build(rng, home["field"], classes, exponent),
        "institute": PopularityPool.build(rng, np.zeros(counts["institute"], np.int64), 1, exponent),
    }
    centroids = {
        "paper": rng.standard_normal((classes, config.clusters_per_class, config.paper_feature_dim)),
        "author": rng.standard_normal((classes, config.side_feature_dim)),
        "field": rng.standard_normal((classes, config.side_feature_dim)),
    }
    return GraphPlan(counts, labels, home, split, pools, centroids)


def noisy(rng: np.random.Generator, centres: np.ndarray, noise: float) -> np.ndarray:
    return (centres + noise * rng.standard_normal(centres.shape)).astype(np.float32)


def unique_edges(src: np.ndarray, dst: np.ndarray, drop_self_loops: bool) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (src, dst) pairs without repeats (a paper cites another, or has an author, once)."""
    keep = src != dst if drop_self_loops else np.ones(len(src), dtype=bool)
    pairs = np.unique(np.stack([src[keep], dst[keep]], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def paper_chunk(
    config: SyntheticGraphConfig, plan: GraphPlan, rng: np.random.Generator, ids: np.ndarray
) -> tuple[pa.Table, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Papers `ids`: their node rows and their outgoing cites / written_by / has_topic edges."""
    labels = plan.labels[ids]
    cluster = rng.integers(config.clusters_per_class, size=len(ids))
    features = noisy(rng, plan.centroids["paper"][labels, cluster], config.feature_noise)
    split = plan.split[ids]
    table = pa.table({
        ID_COLUMN: id_array(ids),
        FEAT_COLUMN: dense_feature_column(features),
        LABEL_COLUMN: label_array(np.where(split != UNSPLIT_CODE, labels, UNKNOWN_LABEL)),
        SPLIT_COLUMN: split_array(SPLIT_NAMES[split]),
    })
    citations = np.minimum(rng.zipf(config.citation_exponent, size=len(ids)), config.max_citations)
    authors = 1 + rng.poisson(config.mean_extra_authors, size=len(ids))
    fields = 1 + rng.poisson(config.mean_extra_fields, size=len(ids))
    edges = {}
    for relation, degree, pool, self_loops in (("cites", citations, "paper", True),
                                                ("written_by", authors, "author", False),
                                                ("has_topic", fields, "field", False)):
        src = np.repeat(ids, degree)
        dst = plan.pools[pool].draw(rng, np.repeat(labels, degree), config.homophily)
        edges[relation] = unique_edges(src, dst, drop_self_loops=self_loops)
    return table, edges


def side_chunk(
    config: SyntheticGraphConfig, plan: GraphPlan, rng: np.random.Generator, node_type: str, ids: np.ndarray
) -> tuple[pa.Table, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Authors, fields or institutes `ids`: node rows, and for authors their one affiliation each."""
    columns = {ID_COLUMN: id_array(ids)}
    if node_type in plan.centroids:
        centres = plan.centroids[node_type][plan.home[node_type][ids]]
        columns[FEAT_COLUMN] = dense_feature_column(noisy(rng, centres, config.feature_noise))
    edges = {}
    if node_type == "author":
        institutes = plan.pools["institute"].draw(rng, np.zeros(len(ids), np.int64), 1.0)
        edges["affiliated_with"] = (ids.astype(np.int64), institutes)
    return pa.table(columns), edges


class TableWriters:
    """One streaming Parquet writer per snapshot table, opened on first write; counts rows per table."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def write(self, rel_path: str, table: pa.Table) -> None:
        if rel_path not in self.writers:
            path = self.folder / rel_path
            path.parent.mkdir(parents=True, exist_ok=True)
            self.writers[rel_path] = pq.ParquetWriter(path, table.schema, compression="zstd")
            self.rows[rel_path] = 0
        self.writers[rel_path].write_table(table)
        self.rows[rel_path] += len(table)

    def close(self) -> None:
        for writer in self.writers.values():
            writer.close()


@contextmanager
def partial_folder(out: Path) -> Iterator[Path]:
    """A sibling temp folder that becomes `out` only if the block completes; removed otherwise."""
    if out.exists():
        raise FileExistsError(f"{out}: already exists (refusing to overwrite a snapshot)")
    temp = out.with_name(out.name + PARTIAL_SUFFIX)
    shutil.rmtree(temp, ignore_errors=True)  # left over from an interrupted run
    temp.mkdir(parents=True)
    try:
        yield temp
        temp.rename(out)
    finally:
        shutil.rmtree(temp, ignore_errors=True)


def write_chunks(config: SyntheticGraphConfig, plan: GraphPlan, rng: np.random.Generator, writers: TableWriters,
                 progress: ProgressCallback | None) -> None:
    """Every node type chunk by chunk: its rows, and the edges whose source nodes are in the chunk."""
    for node_type, count in plan.counts.items():
        for start in range(0, count, config.chunk_size):
            ids = np.arange(start, min(start + config.chunk_size, count), dtype=np.int64)
            if node_type == TARGET:
                table, edges = paper_chunk(config, plan, rng, ids)
            else:
                table, edges = side_chunk(config, plan, rng, node_type, ids)
            writers.write(f"nodes/{node_type}.parquet", table)
            for relation, (src, dst) in edges.items():
                writers.write(f"edges/{relation}.parquet", edge_table(src, dst))
            if progress:
                progress(node_type, int(ids[-1]) + 1, count)
    for relation, _, _ in RELATIONS:  # a relation that got no edge still needs its (empty) file
        if f"edges/{relation}.parquet" not in writers.rows:
            writers.write(f"edges/{relation}.parquet", edge_table(np.empty(0, np.int64), np.empty(0, np.int64)))


def build_manifest(config: SyntheticGraphConfig, counts: dict[str, int], rows: dict[str, int]) -> SnapshotManifest:
    dims = {"paper": config.paper_feature_dim, "author": config.side_feature_dim, "field": config.side_feature_dim}
    node_types = {
        t: NodeTypeInfo(count=n, feature_format="dense" if t in dims else "none", feature_dim=dims.get(t, 0))
        for t, n in counts.items()
    }
    relations = [RelationInfo(name=name, src_type=s, dst_type=d, num_edges=rows.get(f"edges/{name}.parquet", 0))
                 for name, s, d in RELATIONS]
    return SnapshotManifest(name=config.name, target_type=TARGET, num_classes=config.num_classes,
                            class_names=[f"class_{c}" for c in range(config.num_classes)],
                            node_types=node_types, relations=relations)


def generate_snapshot(config: SyntheticGraphConfig, out: Path, progress: ProgressCallback | None = None) -> SnapshotManifest:
    """Write the graph `config` describes as a snapshot folder at `out` (which must not exist yet)."""
    rng = np.random.default_rng(config.seed)
    plan = plan_graph(config, rng)
    with partial_folder(Path(out)) as folder:
        writers = TableWriters(folder)
        try:
            write_chunks(config, plan, rng, writers, progress)
        finally:
            writers.close()
        manifest = build_manifest(config, plan.counts, writers.rows)
        manifest = manifest.model_copy(update={"content_hash": folder_content_hash(manifest, folder)})
        (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(indent=2))
    return manifest
