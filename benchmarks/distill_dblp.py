"""Benchmark: the distill pipeline on DBLP with the default config, fresh and then fully cached.

    ./scripts/with-env python -m benchmarks.distill_dblp [--seeds 0 1 2]

Runs in throw-away ZenML and MLflow stores (your project stores are untouched) and prints the
results table (every student, both settings, mean ± std over seeds), the time of every step, and
the wall time of the fresh and the fully cached run.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default: the config's")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hg2m-bench-"))
    from hg2m.environment import use_private_stores

    use_private_stores(home)
    import torch

    from hg2m.config import CONFIG_DIR, load_run_config
    from hg2m.evaluate import display_table, markdown_table
    from pipelines.distill import run_distill

    overrides = {"device": args.device, **({"evaluation.seeds": args.seeds} if args.seeds else {})}
    config = load_run_config(CONFIG_DIR / "pipelines" / "distill.yaml", "dblp", overrides)
    uri = f"sqlite:///{home / 'mlflow.db'}"
    timings, steps = {}, None
    for label in ("fresh", "cached"):
        started = time.perf_counter()
        outcome = run_distill(config, uri, home / "artifacts")
        timings[label] = time.perf_counter() - started
        steps = steps or {name: (s.end_time - s.start_time).total_seconds() for name, s in outcome.run.steps.items()}
    print(f"\nDBLP, default config, seeds {config.evaluation.seeds}; {platform.machine()}, {os.cpu_count()} CPU cores, "
          f"torch {torch.__version__}, device {args.device}. Test scores in %, mean ± std over seeds:\n")
    print(markdown_table(display_table(outcome.summary)))
    print("\nstep times (fresh run):")
    for name, seconds in steps.items():
        print(f"  {name:32s} {seconds:7.1f} s")
    print(f"\npipeline wall time: fresh stores {timings['fresh']:.1f} s, fully cached re-run {timings['cached']:.1f} s")
    print(f"registered: {outcome.registration.student} as {outcome.registration.model_uri}")


if __name__ == "__main__":
    main()
