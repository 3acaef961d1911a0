"""Meta-path neighbour sets and reliable meta-path edges (HG2M+'s reliable meta-path distillation)."""

from __future__ import annotations

import dgl
import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch

PAIR_COLUMNS = {"metapath": "str", "node": "int64", "neighbour": "int64", "count": "int64"}
EDGE_COLUMNS = {"src": "int64", "dst": "int64", "weight": "float64"}
LR_MAX_ITER = 200  # LBFGS iterations for the pair classifier; 3 features converge well before
LR_L2 = 1e-3  # small ridge penalty: keeps the weights finite when train-train pairs are separable
SAME_CLASS_THRESHOLD = 0.5  # a non-train pair is kept when predicted same-class
NORM_EPS = 1e-12  # below this a norm or a standard deviation counts as zero


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


def adjacency_chain(graph: dgl.DGLGraph, node_types: list[str]) -> list[sp.csr_matrix]:
    """One (N_src, N_dst) int64 CSR matrix per hop: rows = source nodes, entries = edge multiplicity."""
    # int64, not DGL's float32: path counts on dense meta-paths must stay exact
    return [graph.adj_external(etype=e, scipy_fmt="csr").astype(np.int64) for e in resolve_metapath(graph, node_types)]


def chain_product(chain: list[sp.csr_matrix], rows: slice | None = None) -> sp.csr_matrix:
    """(len(rows), N_last) product A1[rows] @ A2 @ ... ; the whole (N_first, N_last) matrix when rows is None."""
    result = chain[0] if rows is None else chain[0][rows]
    for matrix in chain[1:]:
        result = result @ matrix
    return result.tocsr()


def metapath_counts(graph: dgl.DGLGraph, node_types: list[str]) -> sp.csr_matrix:
    """(N_first, N_last) int64: M_P[i, j] = number of path instances from i to j along the meta-path."""
    return chain_product(adjacency_chain(graph, node_types))


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
    graph: dgl.DGLGraph, metapaths: dict[str, list[str]], max_per_node: int, min_count: int = 1, chunk_rows: int = 1024
) -> pd.DataFrame:
    """(pairs, 4) frame metapath, node < neighbour, count: pairs in either endpoint's top-`max_per_node` by count."""
    frames = []
    for name, node_types in metapaths.items():
        if node_types[0] != node_types[-1]:
            raise ValueError(f"meta-path {name} ({'-'.join(node_types)}) must start and end at the same type")
        pairs = capped_pairs(adjacency_chain(graph, node_types), max_per_node, min_count, chunk_rows)
        frames.append(pairs.assign(metapath=name)[list(PAIR_COLUMNS)])
    if not frames:
        return empty_frame(PAIR_COLUMNS)
    return pd.concat(frames, ignore_index=True).astype(PAIR_COLUMNS)


def metapath_summary(frame: pd.DataFrame) -> dict[str, int]:
    """Number of stored pairs per meta-path."""
    return {str(k): int(v) for k, v in frame.groupby("metapath").size().items()}


def pair_features(pairs: pd.DataFrame, features: torch.Tensor, teacher_probs: torch.Tensor) -> torch.Tensor:
    """(E, 3) float64: cosine similarity of raw features (0 for an all-zero row), path count, p_i . p_j."""
    i = torch.tensor(pairs["node"].to_numpy(), dtype=torch.int64)
    j = torch.tensor(pairs["neighbour"].to_numpy(), dtype=torch.int64)
    x_i, x_j = features[i].double(), features[j].double()
    norms = (x_i.norm(dim=-1) * x_j.norm(dim=-1)).clamp_min(NORM_EPS)  # zero row: dot is 0, so cosine 0
    cosine = (x_i * x_j).sum(-1) / norms
    count = torch.tensor(pairs["count"].to_numpy(), dtype=torch.float64)
    agree = (teacher_probs[i].double() * teacher_probs[j].double()).sum(-1)
    return torch.stack([cosine, count, agree], dim=1)


def standardise(x: torch.Tensor, fit_rows: torch.Tensor) -> torch.Tensor:
    """(E, D) -> (E, D) with the fit rows' mean and std; a constant column is only centred."""
    mean, std = x[fit_rows].mean(0), x[fit_rows].std(0, unbiased=False)
    return (x - mean) / torch.where(std > NORM_EPS, std, torch.ones_like(std))


def same_class_probability(x: torch.Tensor, fit_rows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(E, D) features -> (E,) P(same class) from a logistic regression fit on `fit_rows` (target (F,) in {0, 1})."""
    z = standardise(x, fit_rows)
    weight = torch.zeros(x.shape[1] + 1, dtype=torch.float64, requires_grad=True)  # zero start: deterministic
    optimizer = torch.optim.LBFGS([weight], max_iter=LR_MAX_ITER, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        logits = z[fit_rows] @ weight[:-1] + weight[-1]
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, target) + LR_L2 * weight[:-1].pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(closure)
    with torch.no_grad():
        return torch.sigmoid(z @ weight[:-1] + weight[-1])


def pair_weights(pairs: pd.DataFrame, x: torch.Tensor, labels: np.ndarray, train: np.ndarray) -> np.ndarray:
    """(E,) weight per pair: 1 / 0 for train-train pairs by label equality, else P(same) if > threshold, else 0."""
    i, j = pairs["node"].to_numpy(), pairs["neighbour"].to_numpy()
    both_train = train[i] & train[j]
    same = labels[i] == labels[j]
    if len(np.unique(same[both_train])) == 2:
        fit_rows = torch.from_numpy(np.flatnonzero(both_train))
        probability = same_class_probability(x, fit_rows, torch.from_numpy(same[both_train]).double()).numpy()
    else:
        # The classifier cannot be fitted without both outcomes among train-train pairs; p_i . p_j, the
        # teacher's own probability that the two nodes share a class, stands in for its prediction.
        probability = x[:, 2].numpy()
    predicted = np.where(probability > SAME_CLASS_THRESHOLD, probability, 0.0)
    return np.where(both_train, same.astype(np.float64), predicted)


def directed_edges(i: np.ndarray, j: np.ndarray, weight: np.ndarray, reliable: np.ndarray) -> pd.DataFrame:
    """Pairs (E,) -> edges u -> v from each reliable endpoint u (p_u supervises q_v), sorted by (src, dst)."""
    forward, backward = reliable[i], reliable[j]
    edges = pd.DataFrame({
        "src": np.r_[i[forward], j[backward]],
        "dst": np.r_[j[forward], i[backward]],
        "weight": np.r_[weight[forward], weight[backward]],
    })
    return edges.sort_values(["src", "dst"], ignore_index=True)


def min_max(weight: np.ndarray) -> np.ndarray:
    """(E,) -> (E,) scaled to [0, 1]; all ones when every weight is equal."""
    low, high = (weight.min(), weight.max()) if len(weight) else (0.0, 0.0)
    return (weight - low) / (high - low) if high > low else np.ones_like(weight)


def reliable_metapath_edges(
    pairs: pd.DataFrame, features: torch.Tensor, teacher_probs: torch.Tensor, labels: torch.Tensor,
    train_mask: torch.Tensor, reliable_mask: torch.Tensor, observed_mask: torch.Tensor, min_weight: float = 0.01,
) -> pd.DataFrame:
    """(pairs of ONE meta-path: node, neighbour, count; features (N, D); probs (N, C); labels and masks (N,))
    -> directed weighted edges src, dst, weight."""
    observed, reliable = observed_mask.cpu().numpy(), reliable_mask.cpu().numpy()
    i, j = pairs["node"].to_numpy(), pairs["neighbour"].to_numpy()
    pairs = pairs[observed[i] & observed[j] & (reliable[i] | reliable[j])]
    if len(pairs) == 0:
        return empty_frame(EDGE_COLUMNS)
    x = pair_features(pairs, features.detach().cpu(), teacher_probs.detach().cpu())
    weight = pair_weights(pairs, x, labels.cpu().numpy(), train_mask.cpu().numpy())
    chosen = weight > 0
    i, j = pairs["node"].to_numpy()[chosen], pairs["neighbour"].to_numpy()[chosen]
    edges = directed_edges(i, j, weight[chosen], reliable)
    edges["weight"] = min_max(edges["weight"].to_numpy())
    return edges[edges["weight"] > min_weight].reset_index(drop=True).astype(EDGE_COLUMNS)
