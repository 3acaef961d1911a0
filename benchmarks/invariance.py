"""Benchmark: does a column of raw counts in the thousands move a teacher on DBLP? Full-length training.

    ./scripts/with-env python -m benchmarks.invariance [--teachers rgcn han simplehgn hgt] [--seeds 0 1 2 3 4]

Each teacher is trained with its default settings (early stopping included) on DBLP's preprocessed features,
per seed: as shipped, with one more author column of zeros, and with one more author column of
Pareto-distributed counts (most below ten, some in the thousands; the column tests/test_invariance.py adds).
Prints per teacher the test accuracy of each, and the paired difference of the counts (mean and a 95%
t-interval over seeds) to the zero column (same shapes, so the same initial weights and dropout masks per
seed: the counts' own effect) and to the graph as shipped (which also changes every random draw). Multiplying
a type's features by 1000 needs no benchmark: the preprocessed features are the same
(tests/test_invariance.py checks it).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--teachers", nargs="+", default=None, help="default: all four")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args()

    import dataclasses

    import pandas as pd
    import torch

    from hg2m.config import CONFIG_DIR, TEACHER_NAMES, load_run_config
    from hg2m.data.graph import build_graph_data
    from hg2m.data.raw import load_raw_dataset
    from hg2m.data.transforms import apply_transforms, fit_transforms
    from hg2m.evaluate import markdown_table, mean_interval
    from hg2m.teacher import train_teacher

    distill = CONFIG_DIR / "pipelines" / "distill.yaml"
    base = load_run_config(distill, "dblp", teacher="rgcn")
    raw = build_graph_data(load_raw_dataset(base.dataset), base.graph)
    authors = raw.features["author"].to_dense()
    torch.manual_seed(0)
    counts = torch.distributions.Pareto(torch.tensor(1.0), torch.tensor(0.8)).sample((len(authors), 1)).floor()
    variants = {"shipped": raw, **{name: dataclasses.replace(
        raw, features={**raw.features, "author": torch.cat([authors, column], dim=1)})
        for name, column in (("with zeros", torch.zeros_like(counts)), ("with counts", counts))}}
    variants = {name: dataclasses.replace(data, features=apply_transforms(data.features, fit_transforms(data.features)))
                for name, data in variants.items()}
    print(f"count column: max {int(counts.max())}, median {int(counts.median())}; "
          f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, CPU")
    rows, started = [], time.perf_counter()
    for name in args.teachers or TEACHER_NAMES:
        config = load_run_config(distill, "dblp", teacher=name)
        scores = {variant: [] for variant in variants}
        for seed in args.seeds:
            for variant, data in variants.items():
                trained = train_teacher(data, config.teachers[0], config.graph, seed, torch.device("cpu"),
                                        metapaths=config.dataset.metapaths)
                scores[variant].append(100 * trained.metrics["test"]["accuracy"])
        rows.append({"teacher": name, **{f"{v} test acc": f"{statistics.fmean(s):.2f} ± {statistics.pstdev(s):.2f}"
                                         for v, s in scores.items()}})
        for baseline in ("with zeros", "shipped"):
            mean, half = mean_interval([b - a for a, b in zip(scores[baseline], scores["with counts"], strict=True)])
            rows[-1][f"counts - {baseline.removeprefix('with ')} (95% CI)"] = f"{mean:+.2f} ± {half:.2f}"
        print(f"{name}: {rows[-1]} ({time.perf_counter() - started:.0f} s so far)", flush=True)
    print(f"\nDBLP, seeds {args.seeds}, default teacher settings; test accuracy in % (mean ± std over seeds):\n")
    print(markdown_table(pd.DataFrame(rows)))


if __name__ == "__main__":
    main()
