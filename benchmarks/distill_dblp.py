"""Benchmark: the distill pipeline on DBLP with the default config, fresh and then fully cached.

    ./scripts/with-env python benchmarks/distill_dblp.py [--seed 0]

Runs in throw-away ZenML and MLflow stores (your project stores are untouched) and prints the
comparison table (test and validation metrics) plus the wall time of both runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hg2m-bench-"))
    from hg2m.environment import use_private_stores

    use_private_stores(home)
    import torch

    from hg2m.config import CONFIG_DIR, load_run_config
    from hg2m.evaluate import markdown_table
    from pipelines.distill import run_distill

    config = load_run_config(CONFIG_DIR / "pipelines" / "distill.yaml", "dblp", {"seed": args.seed, "device": args.device})
    uri = f"sqlite:///{home / 'mlflow.db'}"
    timings = {}
    for label in ("fresh", "cached"):
        started = time.perf_counter()
        outcome = run_distill(config, uri, home / "artifacts")
        timings[label] = time.perf_counter() - started
    print(f"\nDBLP, default config, seed {args.seed}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPU cores, torch {torch.__version__}, device {args.device}\n")
    print(markdown_table(outcome.comparison))
    print(f"\npipeline wall time: fresh stores {timings['fresh']:.1f} s, fully cached re-run {timings['cached']:.1f} s")
    print(f"registered: {outcome.registration['student']} as {outcome.registration['model_uri']}")


if __name__ == "__main__":
    main()
