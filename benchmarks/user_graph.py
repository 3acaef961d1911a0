"""Benchmark: a shipped graph run as a user would bring it, a snapshot folder with no dataset config.

    ./scripts/with-env python -m benchmarks.user_graph [--dataset aminer] [--seeds 0 1 2] [--students ...]

Writes the dataset's raw files as a snapshot folder, then runs `run.py --pipeline distill --snapshot DIR`'s
pipeline on it (meta-paths derived from the schema, features preprocessed, student inputs chosen by the
plan) in throw-away ZenML and MLflow stores, and prints the test table (mean ± std over seeds, both
settings) with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

DEFAULT_STUDENTS = ["mlp", "hg2m", "hg2m_plus"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="aminer", help="a built-in dataset (configs/datasets/), run as a snapshot")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--students", nargs="+", default=DEFAULT_STUDENTS)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hg2m-bench-"))
    from hg2m.environment import use_private_stores

    use_private_stores(home)
    import torch

    from hg2m.config import CONFIG_DIR, load_run_config
    from hg2m.data.raw import load_raw_dataset
    from hg2m.data.snapshot import write_snapshot
    from hg2m.evaluate import display_table, markdown_table, teacher_warnings
    from pipelines.distill import run_distill

    distill_yaml = CONFIG_DIR / "pipelines" / "distill.yaml"
    folder = home / "snapshot"
    write_snapshot(load_raw_dataset(load_run_config(distill_yaml, args.dataset).dataset), folder)
    overrides = {"device": args.device, "evaluation.seeds": args.seeds}
    config = load_run_config(distill_yaml, snapshot=folder, overrides=overrides, students=args.students)
    started = time.perf_counter()
    outcome = run_distill(config, f"sqlite:///{home / 'mlflow.db'}", home / "artifacts")
    seconds = time.perf_counter() - started
    inputs = {s.name: s.inputs for s in outcome.plan.students}
    print(f"\n{args.dataset} as a snapshot with no dataset config; teacher {outcome.teacher_name}, students "
          f"{inputs}, meta-paths {list(outcome.config.dataset.metapaths)} (derived), seeds {args.seeds}; "
          f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, device {args.device}; "
          f"{seconds:.0f} s. Test scores in %, mean ± std over seeds:\n")
    print(markdown_table(display_table(outcome.summary)))
    for warning in teacher_warnings(outcome.results):
        print(f"\nwarning: {warning}")
    print(f"\nregistered: {outcome.registration.reason}")


if __name__ == "__main__":
    main()
