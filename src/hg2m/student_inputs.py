"""The student's inputs: the target node's own features, optionally with its ONE-HOP neighbourhood.

Kind "own" is the target type's own (preprocessed) features, as every student had so far. Kind
"own+neighbours" appends, per target node v, blocks computed from v's own edges only:

    mean blocks  one per neighbour TYPE with features: the plain mean of the features of v's neighbours
                 of that type, over every snapshot relation joining the type to the target (a neighbour
                 counts once per edge; a zero row when v has none);
    bag blocks   one per snapshot RELATION touching the target: v's neighbour ids via that relation as a
                 row-normalised bag over the neighbour type's ids (each row sums to 1, or is all zero).
                 The student's first linear layer over a bag is exactly a mean-mode embedding bag.
                 A relation whose neighbour type has more than `max_bag_ids` nodes keeps a column only
                 for its `max_bag_ids` most connected neighbours (the vocabulary, as for bag-of-words):
                 the first layer's weights, and so an epoch's cost, stay bounded on large graphs. The
                 other neighbours still count in the mean blocks.

Only snapshot relations count (DGL's `rev_<name>` reverses are skipped). A relation src -> dst is
taken in whichever direction touches the target: the neighbours of a target node are the src ends of
its in-edges (dst == target) or the dst ends of its out-edges (src == target); a target -> target
relation is taken in both directions, i.e. as undirected (a self-loop counts once). Block order is
own, means, bags; means sorted by node type, bags by relation (InputLayout.offsets gives the columns).

Inductive rule (build_inputs' `hidden`): held-out target nodes arrive with their edges. The rows of
the OTHER nodes ignore every edge to or from a hidden node (this matters only for target -> target
relations: nothing else puts a target node in another node's one-hop neighbourhood), while a hidden
node's own row uses all its edges. derive_inputs gives new nodes exactly the row build_inputs would.

Cost: one pass over each relation's edge list and one sparse (N, N_t) x (N_t, D_t) product per mean
block (scipy.sparse, no Python loop over nodes): time and memory linear in the edges touching the
target plus the nonzeros of the result; neighbours of neighbours are never read. The result is a
sparse COO tensor when there are bag blocks or sparse own/mean features (dense blocks then add their
nonzeros to it), else dense.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import get_args

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import BaseModel, ConfigDict, Field

from hg2m.config import InputKind
from hg2m.data.graph import REVERSE_PREFIX, HeteroGraphData

INPUT_KINDS: tuple[str, ...] = get_args(InputKind)
OWN_BLOCK = "own"


def mean_key(node_type: str) -> str:
    """The name of a mean block in InputLayout.offsets()."""
    return f"mean:{node_type}"


def bag_key(relation: str) -> str:
    """The name of a bag block in InputLayout.offsets()."""
    return f"bag:{relation}"


class MeanBlock(BaseModel):
    """Mean of the features of a target node's neighbours of `node_type`, over `relations`."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    node_type: str
    relations: list[str]
    dim: int = Field(gt=0)


class BagBlock(BaseModel):
    """Row-normalised bag of a target node's neighbour ids (of `node_type`, `num_nodes` of them) via `relation`;
    `kept_ids` (sorted), when set, are the only neighbours with a column (the rest are left out of the bag)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    relation: str
    node_type: str
    num_nodes: int = Field(ge=0)
    kept_ids: list[int] | None = None

    @property
    def width(self) -> int:
        return self.num_nodes if self.kept_ids is None else len(self.kept_ids)

    @cached_property
    def kept_array(self) -> np.ndarray:
        return np.asarray(self.kept_ids, dtype=np.int64)

    def columns(self, ids: np.ndarray) -> np.ndarray:
        """Each neighbour id's column in the bag, or -1 for a neighbour without one."""
        if self.kept_ids is None:
            return ids
        kept = self.kept_array  # built once per layout, not per request
        at = np.minimum(np.searchsorted(kept, ids), max(len(kept) - 1, 0))
        return np.where((len(kept) > 0) & (kept[at] == ids), at, -1)


class InputLayout(BaseModel):
    """Which columns the student's input has: own features, then mean blocks, then bag blocks."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: InputKind
    target_type: str
    own_dim: int = Field(ge=0)  # 0 when the target type has no features
    means: list[MeanBlock] = []
    bags: list[BagBlock] = []

    @property
    def width(self) -> int:
        return self.own_dim + sum(m.dim for m in self.means) + sum(b.width for b in self.bags)

    def offsets(self) -> dict[str, tuple[int, int]]:
        """Block name ("own", "mean:<node_type>", "bag:<relation>") -> its (start, stop) columns, in order."""
        spans, start = {}, 0
        sizes = [(OWN_BLOCK, self.own_dim), *((mean_key(m.node_type), m.dim) for m in self.means),
                 *((bag_key(b.relation), b.width) for b in self.bags)]
        for name, size in sizes:
            spans[name] = (start, start + size)
            start += size
        return spans

    def relations(self) -> dict[str, str]:
        """Every relation the inputs read -> the neighbour type it reaches."""
        found = {r: m.node_type for m in self.means for r in m.relations}
        found.update({b.relation: b.node_type for b in self.bags})
        return found


# ---------------------------------------------------------------------------------------------- layout


def snapshot_relations(graph) -> list[tuple[str, str, str]]:
    """The graph's canonical relations less the `rev_<name>` reverses that build_graph_data adds."""
    etypes = set(graph.canonical_etypes)

    def is_reverse(src: str, name: str, dst: str) -> bool:
        return name.startswith(REVERSE_PREFIX) and (dst, name[len(REVERSE_PREFIX):], src) in etypes

    return [e for e in graph.canonical_etypes if not is_reverse(*e)]


def target_relations(graph, target_type: str) -> dict[str, tuple[str, str, str]]:
    """Snapshot relation name -> its canonical (src, name, dst), for the relations touching the target."""
    return {name: (src, name, dst) for src, name, dst in snapshot_relations(graph) if target_type in (src, dst)}


def neighbour_type(canonical: tuple[str, str, str], target_type: str) -> str:
    src, _, dst = canonical
    return src if dst == target_type else dst


def feature_dim(features: torch.Tensor) -> int:
    return int(features.shape[1])


def most_connected(graph, canonical: tuple[str, str, str], target: str, limit: int) -> list[int] | None:
    """The `limit` neighbour ids with the most edges in the relation (ties to the smaller id), sorted by id; None
    when the neighbour type has no more than `limit` nodes (every id keeps its column)."""
    neighbours = neighbour_type(canonical, target)
    if graph.num_nodes(neighbours) <= limit:
        return None
    cols = graph_pairs(graph, canonical, target, np.zeros(graph.num_nodes(target), dtype=bool))[1]
    degree = np.bincount(cols, minlength=graph.num_nodes(neighbours))
    return sorted(np.argsort(-degree, kind="stable")[:limit].tolist())


def input_layout(
    data: HeteroGraphData, kind: InputKind, features: Mapping[str, torch.Tensor] | None = None,
    max_bag_ids: int | None = None,
) -> InputLayout:
    """The layout of `kind` inputs on this graph. `features` (default data.features) are the features
    build_inputs will get: their widths are the blocks' widths (pass the preprocessed ones). `max_bag_ids`:
    the most columns of one bag block (None: every neighbour id has one)."""
    if kind not in INPUT_KINDS:
        raise ValueError(f"unknown student input kind {kind!r}: one of {list(INPUT_KINDS)}")
    features = data.features if features is None else features
    target = data.target_type
    own_dim = feature_dim(features[target]) if target in features else 0
    if kind == "own":
        if own_dim == 0:
            raise ValueError(f"target type {target!r} has no features, so a student on its own features "
                             "('own' inputs) is impossible: use 'own+neighbours' inputs (means of its "
                             "neighbours' features and bags of its neighbour ids)")
        return InputLayout(kind=kind, target_type=target, own_dim=own_dim)
    relations = target_relations(data.graph, target)
    by_type: dict[str, list[str]] = {}
    for name in sorted(relations):
        by_type.setdefault(neighbour_type(relations[name], target), []).append(name)
    means = [MeanBlock(node_type=t, relations=rels, dim=feature_dim(features[t]))
             for t, rels in sorted(by_type.items()) if t in features and feature_dim(features[t]) > 0]
    bags = [BagBlock(relation=name, node_type=neighbour_type(relations[name], target),
                     num_nodes=data.graph.num_nodes(neighbour_type(relations[name], target)),
                     kept_ids=None if max_bag_ids is None else most_connected(data.graph, relations[name], target,
                                                                              max_bag_ids))
            for name in sorted(relations)]
    layout = InputLayout(kind=kind, target_type=target, own_dim=own_dim, means=means, bags=bags)
    if layout.width == 0:
        raise ValueError(f"target type {target!r} has no features and no relation reaches it: "
                         "a student has no inputs on this graph")
    return layout


# ---------------------------------------------------------------------------------------------- blocks

Block = np.ndarray | sp.csr_matrix


def to_block(x) -> Block:
    """Dense torch / numpy -> float32 ndarray; sparse torch / scipy -> float32 CSR with sorted indices."""
    if isinstance(x, torch.Tensor):
        if x.is_sparse:
            x = x.coalesce()
            idx = x.indices().cpu().numpy()
            return canonical(sp.csr_matrix((x.values().cpu().numpy(), (idx[0], idx[1])), shape=tuple(x.shape)))
        return np.asarray(x.detach().cpu().numpy(), dtype=np.float32)
    if isinstance(x, sp.csr_matrix) and x.dtype == np.float32 and x.has_canonical_format:
        return x  # a block already (mean_features' output): the flag is cached on the object, so this is O(1)
    if sp.issparse(x):
        return canonical(sp.csr_matrix(x))
    return np.asarray(x, dtype=np.float32)


def canonical(m: sp.spmatrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float32)
    m.sum_duplicates()  # also sorts the indices
    return m


def row_normalised(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> sp.csr_matrix:
    """(n, m) CSR: one per (row, col) pair (repeats add up), each row divided by its pair count."""
    counts = canonical(sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=shape))
    degree = np.diff(counts.indptr)
    totals = np.add.reduceat(counts.data, counts.indptr[:-1][degree > 0]) if counts.nnz else np.empty(0, np.float32)
    scale = np.zeros(shape[0], dtype=np.float32)
    scale[degree > 0] = 1.0 / totals
    counts.data *= np.repeat(scale, degree)
    return counts


Pairs = dict[str, tuple[np.ndarray, np.ndarray]]  # relation -> (target rows, neighbour ids)


def assemble(layout: InputLayout, num_rows: int, own: Block | None, pairs: Pairs,
             neighbour_features: Mapping[str, Block]) -> torch.Tensor:
    """The (num_rows, width) inputs from the own block and each relation's (row, neighbour) pairs.

    build_inputs and derive_inputs both end here, so a node gets the same row either way: every
    row is computed from that row's own pairs alone, in the same order."""
    blocks: list[Block] = []
    if layout.own_dim:
        blocks.append(own)
    for mean in layout.means:
        rows = np.concatenate([pairs[r][0] for r in mean.relations])
        cols = np.concatenate([pairs[r][1] for r in mean.relations])
        feats = neighbour_features[mean.node_type]
        weights = row_normalised(rows, cols, (num_rows, feats.shape[0]))
        block = weights @ feats
        blocks.append(canonical(block) if sp.issparse(block) else np.asarray(block, dtype=np.float32))
    for bag in layout.bags:
        rows, cols = pairs[bag.relation]
        cols = bag.columns(cols)
        blocks.append(row_normalised(rows[cols >= 0], cols[cols >= 0], (num_rows, bag.width)))
    if not any(sp.issparse(b) for b in blocks):
        dense = blocks[0] if len(blocks) == 1 else np.hstack(blocks)
        return torch.from_numpy(np.ascontiguousarray(dense, dtype=np.float32))
    matrix = sp.hstack([b if sp.issparse(b) else dense_to_csr(b) for b in blocks], format="csr", dtype=np.float32)
    matrix = canonical(matrix)
    matrix.eliminate_zeros()
    return csr_to_torch(matrix)


def dense_to_csr(x: np.ndarray) -> sp.csr_matrix:
    """Every entry stored, zeros included (assemble drops them after stacking): no scan for nonzeros."""
    n, d = x.shape
    indices = np.broadcast_to(np.arange(d, dtype=np.int32), (n, d)).reshape(-1)
    indptr = np.arange(0, n * d + 1, d, dtype=np.int64 if n * d >= 2**31 else np.int32)
    return sp.csr_matrix((np.ascontiguousarray(x, dtype=np.float32).reshape(-1), indices, indptr), shape=(n, d))


def csr_to_torch(matrix: sp.csr_matrix) -> torch.Tensor:
    """Canonical CSR (sorted, no duplicates) -> coalesced torch sparse COO, without a re-sort."""
    indices = np.empty((2, matrix.nnz), dtype=np.int64)
    indices[0] = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    indices[1] = matrix.indices
    indices = torch.from_numpy(indices)
    values = torch.from_numpy(np.asarray(matrix.data, dtype=np.float32))
    return torch.sparse_coo_tensor(indices, values, matrix.shape, is_coalesced=True)


def check_width(what: str, block: Block, dim: int) -> None:
    if block.ndim != 2 or block.shape[1] != dim:
        raise ValueError(f"{what}: features of shape {tuple(block.shape)}, the input layout expects width {dim}")


def mean_features(layout: InputLayout, features: Mapping[str, torch.Tensor | np.ndarray]) -> dict[str, Block]:
    """The mean blocks' neighbour features as blocks; derive_inputs takes these too, so that a caller deriving
    many batches converts the features once."""
    out = {}
    for mean in layout.means:
        if mean.node_type not in features:
            raise ValueError(f"mean block of {mean.node_type!r}: no features given for node type {mean.node_type!r}")
        out[mean.node_type] = to_block(features[mean.node_type])
        check_width(f"mean block of {mean.node_type!r}", out[mean.node_type], mean.dim)
    return out


# ---------------------------------------------------------------------------------------------- graph


def build_inputs(
    data: HeteroGraphData, layout: InputLayout, features: Mapping[str, torch.Tensor] | None = None,
    hidden: torch.Tensor | None = None,
) -> torch.Tensor:
    """(N_target, layout.width) float32 inputs of every target node: sparse COO when there are bag
    blocks or sparse own/mean features, else dense. `features` (default data.features): the
    (preprocessed) features per type. `hidden`: held-out target ids, whose edges the other nodes' rows
    ignore (see the module docstring)."""
    target = data.target_type
    if layout.target_type != target:
        raise ValueError(f"input layout is for target type {layout.target_type!r}, the graph's is {target!r}")
    features = data.features if features is None else features
    n = data.graph.num_nodes(target)
    own = None
    if layout.own_dim:
        if target not in features:
            raise ValueError(f"own block: no features given for the target type {target!r}")
        own = to_block(features[target])
        check_width(f"own block of {target!r}", own, layout.own_dim)
        if own.shape[0] != n:
            raise ValueError(f"own block: {own.shape[0]} feature rows for {n} {target!r} nodes")
    if not layout.means and not layout.bags:
        return assemble(layout, n, own, {}, {})
    is_hidden = np.zeros(n, dtype=bool)
    if hidden is not None:
        is_hidden[torch.as_tensor(hidden, dtype=torch.int64).cpu().numpy()] = True
    relations = target_relations(data.graph, target)
    pairs: Pairs = {}
    for name, nbr_type in layout.relations().items():
        if name not in relations or neighbour_type(relations[name], target) != nbr_type:
            raise ValueError(f"relation {name!r} of the input layout (to {nbr_type!r}) is not in the graph")
        pairs[name] = graph_pairs(data.graph, relations[name], target, is_hidden)
    feats = mean_features(layout, features)
    for node_type, block in feats.items():
        if block.shape[0] != data.graph.num_nodes(node_type):
            raise ValueError(f"mean block of {node_type!r}: {block.shape[0]} feature rows for "
                             f"{data.graph.num_nodes(node_type)} {node_type!r} nodes")
    return assemble(layout, n, own, pairs, feats)


def graph_pairs(graph, canonical: tuple[str, str, str], target: str, is_hidden: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(target row, neighbour id) per edge of the relation, in the direction(s) touching the target."""
    src, _, dst = canonical
    s, d = (t.cpu().numpy().astype(np.int64) for t in graph.edges(etype=canonical))
    if src != target:
        return d, s
    if dst != target:
        return s, d
    loop = s == d  # target -> target: both directions, a self-loop once
    rows, cols = np.concatenate([d, s[~loop]]), np.concatenate([s, d[~loop]])
    keep = is_hidden[rows] | ~is_hidden[cols]  # other nodes ignore hidden neighbours
    return rows[keep], cols[keep]


# ---------------------------------------------------------------------------------------------- new nodes


def derive_inputs(
    layout: InputLayout, own: np.ndarray | None, edges: Sequence[tuple[str, np.ndarray, np.ndarray]],
    neighbour_features: Mapping[str, torch.Tensor], num_rows: int | None = None,
) -> torch.Tensor:
    """Inputs of NEW target nodes (not in the graph): the rows build_inputs gives a node with these
    own features and edges.

    own: (n, own_dim) preprocessed features, or None when layout.own_dim == 0.
    edges: (relation, row 0..n-1 of the new node, neighbour id in the neighbour type's id space) arrays;
        for a target -> target relation the neighbour is an existing target node, either direction.
    neighbour_features: (preprocessed) features of every mean block's node type.
    num_rows: n when `own` is None (default: the largest row in `edges` + 1).
    """
    relations = layout.relations()
    if layout.own_dim:
        if own is None:
            raise ValueError(f"own features of the new {layout.target_type!r} nodes are missing: "
                             f"the input layout has {layout.own_dim} own columns")
        own = to_block(own)
        check_width(f"own features of the new {layout.target_type!r} nodes", own, layout.own_dim)
        if num_rows is not None and num_rows != own.shape[0]:
            raise ValueError(f"num_rows={num_rows} but {own.shape[0]} rows of own features")
        num_rows = own.shape[0]
    elif own is not None and own.shape[-1] != 0:
        raise ValueError(f"own features given, but target type {layout.target_type!r} has none in the input layout")
    arrays = []
    for relation, rows, nbrs in edges:
        if relation not in relations:
            raise ValueError(f"relation {relation!r} is not in the student's input layout "
                             f"(it reads {sorted(relations) or 'no relations'})")
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        nbrs = np.asarray(nbrs, dtype=np.int64).reshape(-1)
        if len(rows) != len(nbrs):
            raise ValueError(f"relation {relation!r}: {len(rows)} rows but {len(nbrs)} neighbour ids")
        arrays.append((relation, rows, nbrs))
    if num_rows is None:
        num_rows = 1 + max((int(r.max()) for _, r, _ in arrays if len(r)), default=-1)
    feats = mean_features(layout, neighbour_features)
    sizes = {b.relation: b.num_nodes for b in layout.bags}
    for mean in layout.means:  # ids must index both the bag and the features
        sizes.update({r: min(sizes.get(r, feats[mean.node_type].shape[0]), feats[mean.node_type].shape[0])
                      for r in mean.relations})
    collected: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {r: [] for r in relations}
    for relation, rows, nbrs in arrays:
        bad_row = np.flatnonzero((rows < 0) | (rows >= num_rows))
        if len(bad_row):
            raise ValueError(f"relation {relation!r}: row {int(rows[bad_row[0]])} is not a new node (0..{num_rows - 1})")
        bad = np.flatnonzero((nbrs < 0) | (nbrs >= sizes[relation]))
        if len(bad):
            raise ValueError(f"relation {relation!r}, row {int(rows[bad[0]])}: neighbour id {int(nbrs[bad[0]])} is "
                             f"out of range for {relations[relation]!r} (0..{sizes[relation] - 1})")
        collected[relation].append((rows, nbrs))
    empty = np.empty(0, dtype=np.int64)
    pairs = {r: (np.concatenate([p[0] for p in ps]), np.concatenate([p[1] for p in ps])) if ps else (empty, empty)
             for r, ps in collected.items()}
    return assemble(layout, num_rows, own, pairs, feats)


class NodeEdges:
    """The edges of existing target nodes in the form derive_inputs takes (rows = positions in `nodes`), from an
    index built once per graph and layout: per relation, every target node's neighbour ids in CSR order (repeats
    kept), so a batch then costs its nodes' degree (DGL's per-call edge lookups took milliseconds per node). Only
    neighbours the layout has columns for are kept: a neighbour added after the student was trained has no
    learned weights, so it is left out, as it would be for a new node."""

    def __init__(self, graph, layout: InputLayout):
        target, relations = layout.target_type, target_relations(graph, layout.target_type)
        known = {b.relation: b.num_nodes for b in layout.bags}
        count = graph.num_nodes(target)
        self.index: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for relation in layout.relations():
            canonical = relations[relation]
            src, dst = (t.numpy() for t in graph.edges(etype=canonical))
            owners, neighbours = [], []
            if canonical[0] == target:
                owners.append(src), neighbours.append(dst)
            if canonical[2] == target:
                once = src != dst if canonical[0] == target else np.ones(len(src), dtype=bool)  # a self-loop once
                owners.append(dst[once]), neighbours.append(src[once])
            owners, neighbours = np.concatenate(owners), np.concatenate(neighbours)
            keep = neighbours < known.get(relation, np.iinfo(np.int64).max)
            owners, neighbours = owners[keep], neighbours[keep]
            indptr = np.zeros(count + 1, dtype=np.int64)
            np.cumsum(np.bincount(owners, minlength=count), out=indptr[1:])
            self.index[relation] = (indptr, neighbours[np.argsort(owners, kind="stable")])

    def __call__(self, nodes: np.ndarray) -> list[tuple[str, np.ndarray, np.ndarray]]:
        nodes = np.asarray(nodes, dtype=np.int64)
        edges = []
        for relation, (indptr, neighbours) in self.index.items():
            starts, counts = indptr[nodes], indptr[nodes + 1] - indptr[nodes]
            within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            edges.append((relation, np.repeat(np.arange(len(nodes)), counts),
                          neighbours[np.repeat(starts, counts) + within]))
        return edges


class ExistingNodeInputs:
    """Rows of existing target nodes, batch by batch: `own` features (N, own_dim) or None, followed by neighbour
    inputs derived from their edges as a new node's would be (derive_inputs). The edge index and the neighbour
    features are prepared once, not per batch."""

    def __init__(self, layout: InputLayout, graph, own: torch.Tensor | None,
                 neighbour_features: Mapping[str, torch.Tensor]):
        self.layout, self.own = layout, own
        self.neighbours = layout.width > layout.own_dim
        if self.neighbours:
            self.node_edges, self.features = NodeEdges(graph, layout), mean_features(layout, neighbour_features)

    def __call__(self, nodes: torch.Tensor) -> torch.Tensor:
        """(len(nodes), width): own rows (on `own`'s device) alone, or all blocks as a CPU sparse tensor."""
        own = self.own[nodes] if self.own is not None else None
        if not self.neighbours:
            return own
        edges = self.node_edges(nodes.cpu().numpy())
        return derive_inputs(self.layout, None if own is None else own.cpu().numpy(), edges, self.features,
                             num_rows=len(nodes))
