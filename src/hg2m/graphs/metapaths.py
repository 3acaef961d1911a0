"""Meta-path adjacency chains and capped meta-path neighbour pairs of a heterograph.

Shared by the HAN teacher (its meta-path graphs) and by HG2M+'s reliable meta-path distillation.
"""

from __future__ import annotations

import dgl
import numpy as np
import pandas as pd
import scipy.sparse as sp

from hg2m.config import MetaPath

PAIR_COLUMNS = {"metapath": "str", "node": "int64", "neighbour": "int64", "count": "int64"}
Hop = tuple[tuple[str, str, str], bool]  # (canonical relation, walked backwards)


def resolve_metapath(graph: dgl.DGLGraph, node_types: list[str]) -> list[tuple[str, str, str]]:
    """The canonical relation (src type, name, dst type) of every hop; each hop must be unambiguous."""
    hops = []
    for a, b in zip(node_types, node_types[1:]):
        candidates = [c for c in graph.canonical_etypes if c[0] == a and c[2] == b]
        if len(candidates) != 1:
            raise ValueError(f"meta-path {'-'.join(node_types)}: hop {a}->{b} needs exactly one relation, "
                             f"found {candidates or 'none'}")
        hops.append(candidates[0])
    return hops


def relation_hops(graph: dgl.DGLGraph, relations: list[str], start: str) -> list[Hop]:
    """Each relation walked from where the path stands: forward from its source type, backwards from its
    destination type (forward for a relation from a type to itself)."""
    hops, here = [], start
    for name in relations:
        matches = [c for c in graph.canonical_etypes if c[1] == name]
        if len(matches) != 1:
            raise ValueError(f"meta-path via {', '.join(relations)}: the graph has {len(matches)} relations named "
                             f"{name!r}, expected one")
        src, _, dst = relation = matches[0]
        if here not in (src, dst):
            raise ValueError(f"meta-path via {', '.join(relations)}: relation {name!r} ({src} -> {dst}) does not "
                             f"touch type {here!r}, where the path stands")
        backwards = here != src
        hops.append((relation, backwards))
        here = src if backwards else dst
    return hops


def metapath_hops(graph: dgl.DGLGraph, path: MetaPath, target: str) -> list[Hop]:
    """The hops of a meta-path that starts and ends at `target`."""
    if path.node_types is not None:
        hops = [(relation, False) for relation in resolve_metapath(graph, path.node_types)]
        ends = (path.node_types[0], path.node_types[-1])
    else:
        hops = relation_hops(graph, path.relations, target)
        last, backwards = hops[-1]
        ends = (target, last[0] if backwards else last[2])
    if ends != (target, target):
        raise ValueError(f"meta-path {path.describe()} must start and end at the target type {target!r}")
    return hops


def adjacency_chain(graph: dgl.DGLGraph, hops: list[Hop]) -> list[sp.csr_matrix]:
    """One (N_from, N_to) int64 CSR matrix per hop: rows = the nodes the hop leaves, entries = edge multiplicity."""
    # int64, not DGL's float32: path counts on dense meta-paths must stay exact
    chain = []
    for relation, backwards in hops:
        matrix = graph.adj_external(etype=relation, scipy_fmt="csr").astype(np.int64)
        chain.append(matrix.T.tocsr() if backwards else matrix)
    return chain


def chain_product(chain: list[sp.csr_matrix], rows: slice | None = None) -> sp.csr_matrix:
    """(len(rows), N_last) product A1[rows] @ A2 @ ... ; the whole (N_first, N_last) matrix when rows is None."""
    result = chain[0] if rows is None else chain[0][rows]
    for matrix in chain[1:]:
        result = result @ matrix
    return result.tocsr()


def top_k_per_row(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """(E,) bool keep-mask: each row's k largest counts (ties: smaller column first)."""
    order = np.lexsort((cols, -counts, rows))
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = np.zeros(len(order), dtype=bool)
    keep[order[rank < k]] = True
    return keep


def chunk_top_pairs(block: sp.csr_matrix, offset: int, max_per_node: int, min_count: int) -> pd.DataFrame:
    """Directed (node, neighbour, count) rows of one row block: each row's top-`max_per_node` candidates."""
    block = block.tocoo()
    rows, cols, counts = block.row.astype(np.int64) + offset, block.col.astype(np.int64), block.data
    valid = (rows != cols) & (counts >= min_count)
    rows, cols, counts = rows[valid], cols[valid], counts[valid]
    keep = top_k_per_row(rows, cols, counts, max_per_node)
    return pd.DataFrame({"node": rows[keep], "neighbour": cols[keep], "count": counts[keep].astype(np.int64)})


def unordered(pairs: pd.DataFrame) -> pd.DataFrame:
    """Directed pairs -> each unordered pair once with node < neighbour, sorted."""
    low = np.minimum(pairs["node"], pairs["neighbour"])
    high = np.maximum(pairs["node"], pairs["neighbour"])
    both = pd.DataFrame({"node": low, "neighbour": high, "count": pairs["count"]})
    # a pair kept by both endpoints appears twice; for an asymmetric meta-path keep the larger count
    both = both.sort_values(["node", "neighbour", "count"], ascending=[True, True, False])
    return both.drop_duplicates(["node", "neighbour"]).reset_index(drop=True)


def capped_pairs(chain: list[sp.csr_matrix], max_per_node: int, min_count: int, chunk_rows: int) -> pd.DataFrame:
    """Unordered capped pairs, from row chunks of the product: a dense meta-path (A-P-V-P-A) never sits whole."""
    found = [
        chunk_top_pairs(chain_product(chain, slice(start, start + chunk_rows)), start, max_per_node, min_count)
        for start in range(0, chain[0].shape[0], chunk_rows)
    ]
    if not found:  # a type with no nodes
        return empty_frame(PAIR_COLUMNS).drop(columns="metapath")
    return unordered(pd.concat(found, ignore_index=True))


def empty_frame(columns: dict[str, str]) -> pd.DataFrame:
    """A 0-row frame with the given column dtypes."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})


def metapath_neighbours(
    graph: dgl.DGLGraph, metapaths: dict[str, MetaPath], target: str, max_per_node: int, min_count: int = 1,
    chunk_rows: int = 1024,
) -> pd.DataFrame:
    """(pairs, 4) frame metapath, node < neighbour, count: pairs in either endpoint's top-`max_per_node` by count."""
    frames = []
    for name, path in metapaths.items():
        chain = adjacency_chain(graph, metapath_hops(graph, path, target))
        pairs = capped_pairs(chain, max_per_node, min_count, chunk_rows)
        frames.append(pairs.assign(metapath=name)[list(PAIR_COLUMNS)])
    if not frames:
        return empty_frame(PAIR_COLUMNS)
    return pd.concat(frames, ignore_index=True).astype(PAIR_COLUMNS)


def metapath_summary(frame: pd.DataFrame) -> dict[str, int]:
    """Number of stored pairs per meta-path."""
    return {str(k): int(v) for k, v in frame.groupby("metapath").size().items()}
