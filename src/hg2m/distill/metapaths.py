"""Meta-path neighbour sets and reliable meta-path edges (HG2M+'s reliable meta-path distillation)."""

from __future__ import annotations

import dgl
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

PAIR_COLUMNS = {"metapath": "object", "node": "int64", "neighbour": "int64", "count": "int64"}
EDGE_COLUMNS = {"src": "int64", "dst": "int64", "weight": "float64"}
LR_STEPS = 200  # LBFGS iterations for the pair classifier (converges well before on 3 features)
LR_L2 = 1e-3


def resolve_metapath(graph: dgl.DGLGraph, node_types: list[str]) -> list[tuple[str, str, str]]:
    """The canonical relation of every hop; each hop must be unambiguous."""
    hops = []
    for a, b in zip(node_types, node_types[1:]):
        candidates = [c for c in graph.canonical_etypes if c[0] == a and c[2] == b]
        if len(candidates) != 1:
            raise ValueError(f"meta-path {'-'.join(node_types)}: hop {a}->{b} needs exactly one relation, "
                             f"found {candidates or 'none'}")
        hops.append(candidates[0])
    return hops


def adjacency_chain(graph: dgl.DGLGraph, node_types: list[str]) -> list[sp.csr_matrix]:
    """One (N_src, N_dst) CSR matrix per hop, rows = source nodes, entries = edge multiplicity."""
    return [graph.adj_external(etype=etype, scipy_fmt="csr").astype(np.int64) for etype in resolve_metapath(graph, node_types)]


def metapath_counts(graph: dgl.DGLGraph, node_types: list[str]) -> sp.csr_matrix:
    """M_P[i, j] = number of path instances from i to j along the meta-path."""
    chain = adjacency_chain(graph, node_types)
    result = chain[0]
    for matrix in chain[1:]:
        result = result @ matrix
    return result.tocsr()


def top_k_per_row(rows: np.ndarray, cols: np.ndarray, counts: np.ndarray, k: int) -> np.ndarray:
    """Boolean keep-mask: each row's k largest counts (ties: smaller column first)."""
    order = np.lexsort((cols, -counts, rows))
    sorted_rows = rows[order]
    starts = np.flatnonzero(np.r_[True, sorted_rows[1:] != sorted_rows[:-1]])
    rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    keep = np.zeros(len(order), dtype=bool)
    keep[order[rank < k]] = True
    return keep


def capped_pairs(chain: list[sp.csr_matrix], max_per_node: int, min_count: int, chunk_rows: int) -> pd.DataFrame:
    """Row chunks of the product, so a dense meta-path (A-P-V-P-A) is never held whole in memory."""
    found = []
    for start in range(0, chain[0].shape[0], chunk_rows):
        block = chain[0][start : start + chunk_rows]
        for matrix in chain[1:]:
            block = block @ matrix
        block = block.tocoo()
        rows, cols, counts = block.row + start, block.col, block.data
        valid = (rows != cols) & (counts >= min_count)
        rows, cols, counts = rows[valid], cols[valid], counts[valid]
        keep = top_k_per_row(rows, cols, counts, max_per_node)
        found.append(pd.DataFrame({"node": rows[keep], "neighbour": cols[keep], "count": counts[keep]}))
    pairs = pd.concat(found, ignore_index=True)
    low, high = np.minimum(pairs["node"], pairs["neighbour"]), np.maximum(pairs["node"], pairs["neighbour"])
    pairs = pd.DataFrame({"node": low, "neighbour": high, "count": pairs["count"]})
    return pairs.drop_duplicates(["node", "neighbour"]).sort_values(["node", "neighbour"], ignore_index=True)


def metapath_neighbours(
    graph: dgl.DGLGraph, metapaths: dict[str, list[str]], max_per_node: int, min_count: int = 1, chunk_rows: int = 1024
) -> pd.DataFrame:
    """Unordered pairs (node < neighbour) kept when in either endpoint's top-`max_per_node` by path count."""
    frames = []
    for name, node_types in metapaths.items():
        if node_types[0] != node_types[-1]:
            raise ValueError(f"meta-path {name} ({'-'.join(node_types)}) must start and end at the same type")
        pairs = capped_pairs(adjacency_chain(graph, node_types), max_per_node, min_count, chunk_rows)
        frames.append(pairs.assign(metapath=name)[list(PAIR_COLUMNS)])
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in PAIR_COLUMNS.items()})
    return pd.concat(frames, ignore_index=True).astype(PAIR_COLUMNS)


def metapath_summary(frame: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in frame.groupby("metapath").size().items()}


def pair_features(pairs: pd.DataFrame, features: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """(E, 3): cosine similarity of raw features (0 for an all-zero row), path count, p_i . p_j."""
    i = torch.tensor(pairs["node"].to_numpy(), dtype=torch.int64)
    j = torch.tensor(pairs["neighbour"].to_numpy(), dtype=torch.int64)
    cosine = torch.nn.functional.cosine_similarity(features[i].double(), features[j].double(), dim=-1, eps=1e-12)
    count = torch.tensor(pairs["count"].to_numpy(), dtype=torch.float64)
    agree = (teacher_probs[i].double() * teacher_probs[j].double()).sum(-1)
    return torch.stack([cosine, count, agree], dim=1)


def same_class_probability(x: torch.Tensor, fit_rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Logistic regression (standardised inputs, small L2, LBFGS) fit on `fit_rows`; probability for every row."""
    mean, std = x[fit_rows].mean(0), x[fit_rows].std(0).clamp_min(1e-12)
    z = (x - mean) / std
    weight = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.LBFGS([weight], max_iter=LR_STEPS, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = z[fit_rows] @ weight[:-1] + weight[-1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + LR_L2 * weight[:-1].pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return torch.sigmoid(z @ weight[:-1] + weight[-1])


def reliable_metapath_edges(
    pairs: pd.DataFrame, features: torch.Tensor, teacher_probs: torch.Tensor, labels: torch.Tensor,
    train_mask: torch.Tensor, reliable_mask: torch.Tensor, observed_mask: torch.Tensor, min_weight: float = 0.01,
) -> pd.DataFrame:
    """Directed, weighted edges u -> v (p_u supervises q_v) from the reliable pairs of one meta-path."""
    i, j = pairs["node"].to_numpy(), pairs["neighbour"].to_numpy()
    observed, reliable = observed_mask.numpy(), reliable_mask.numpy()
    keep = observed[i] & observed[j] & (reliable[i] | reliable[j])
    pairs = pairs[keep]
    i, j = pairs["node"].to_numpy(), pairs["neighbour"].to_numpy()
    if len(pairs) == 0:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in EDGE_COLUMNS.items()})
    train = train_mask.numpy()
    both_train = train[i] & train[j]
    same = (labels.numpy()[i] == labels.numpy()[j])
    x = pair_features(pairs, features, teacher_probs)
    fit_rows = torch.from_numpy(np.flatnonzero(both_train))
    if len(np.unique(same[both_train])) == 2:
        probability = same_class_probability(x, fit_rows, torch.from_numpy(same[both_train]).double()).numpy()
    else:
        # The classifier needs both outcomes among train-train pairs; without them, p_i . p_j is the
        # teacher's own probability that the two nodes share a class.
        probability = x[:, 2].numpy()
    weight = np.where(both_train, np.where(same, 1.0, 0.0), np.where(probability > 0.5, probability, 0.0))
    chosen = weight > 0
    i, j, weight = i[chosen], j[chosen], weight[chosen]
    forward, backward = reliable[i], reliable[j]
    src = np.r_[i[forward], j[backward]]
    dst = np.r_[j[forward], i[backward]]
    w = np.r_[weight[forward], weight[backward]]
    if len(w) and w.max() > w.min():
        w = (w - w.min()) / (w.max() - w.min())
    else:
        w = np.ones_like(w)
    kept = w > min_weight
    return pd.DataFrame({"src": src[kept], "dst": dst[kept], "weight": w[kept]}).astype(EDGE_COLUMNS)
