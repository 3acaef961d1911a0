"""Benchmark: the teacher trained on partitions with DistDGL beside the single-process run, on the generator's graph.

    ./scripts/with-env python -m benchmarks.distributed [--snapshot snapshots/igb-1m | --papers 1000000]
        [--parts 2] [--seeds 0 1 2] [--students mlp hg2m] [--student-epochs N]

Two distill runs of the `igb` dataset config (RGCN teacher with sampled mini-batches, fanouts 10, 10; transductive;
the given students), in throw-away ZenML and MLflow stores: one in one process, one with `distributed.enabled`
(`--parts` graph servers and as many trainers, on this host). Prints, per run: the teacher's median wall time per
epoch (training and validation), the peak resident memory of every process (the teacher step's for one process; each
server's and trainer's for DistDGL), the partitioning's time and peak, and every model's test Micro-F1 (mean ± std
over the seeds). Each trainer keeps the single process's batch size, so a distributed epoch takes half the steps.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--snapshot", type=Path, default=None, help="a generated snapshot (default: generate one)")
    parser.add_argument("--papers", type=int, default=1_000_000, help="papers to generate without --snapshot")
    parser.add_argument("--parts", type=int, default=2)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--students", nargs="+", default=["mlp", "hg2m"])
    parser.add_argument("--student-epochs", type=int, default=None, help="cap every student's epochs (default: config)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hg2m-bench-"))
    from hg2m.environment import use_private_stores

    use_private_stores(home)
    try:
        run(args, home)
    finally:
        shutil.rmtree(home, ignore_errors=True)  # the stores hold every step's artifacts: gigabytes at 1M papers


def run(args: argparse.Namespace, home: Path) -> None:
    import pandas as pd
    import torch
    from mlflow.tracking import MlflowClient

    from hg2m.config import CONFIG_DIR, load_run_config, load_synthetic_config
    from hg2m.data.synthetic import generate_snapshot
    from hg2m.evaluate import markdown_table
    from hg2m.plan import Run
    from pipelines.distill import run_distill, teacher_step

    snapshot = args.snapshot
    if snapshot is None:
        snapshot = home / f"igb-{args.papers}"
        generate_snapshot(load_synthetic_config(CONFIG_DIR / "synthetic" / "igb.yaml", {"num_papers": args.papers}),
                          snapshot)
    print(f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; snapshot {snapshot}; "
          f"seeds {args.seeds}", flush=True)
    tracking_uri = f"sqlite:///{home / 'mlflow.db'}"
    rows, scores = [], []
    for mode in ("one process", f"DistDGL, {args.parts} parts"):
        distributed = mode != "one process"
        overrides = {"evaluation.seeds": args.seeds, "evaluation.settings": ["transductive"], "device": "cpu",
                     "distributed.enabled": distributed, "distributed.num_parts": args.parts}
        if args.student_epochs is not None:
            overrides["students.*.optim.max_epochs"] = args.student_epochs
        config = load_run_config(CONFIG_DIR / "pipelines" / "distill.yaml", "igb", overrides, teacher="rgcn",
                                 snapshot=snapshot, students=args.students)
        started = time.perf_counter()
        outcome = run_distill(config, tracking_uri, home / "artifacts")
        seconds = time.perf_counter() - started
        steps = outcome.step_table().set_index("step")
        client = MlflowClient(tracking_uri)
        epoch_seconds, peaks = [], {}
        for seed in args.seeds:
            report = outcome.load(teacher_step(Run(setting="transductive", seed=seed)), "teacher_report")
            epoch_seconds += [m.value for m in client.get_metric_history(report.mlflow_run_id, "epoch_seconds")]
            metrics = client.get_run(report.mlflow_run_id).data.metrics
            for name, value in metrics.items():
                if name.startswith("peak_rss_mb."):
                    peaks[name.removeprefix("peak_rss_mb.")] = max(value, peaks.get(name, 0.0))
        teacher_steps = [f"teacher_transductive_s{seed}" for seed in args.seeds]
        row = {"run": mode, "total s": f"{seconds:.0f}",
               "teacher s/epoch (median)": f"{statistics.median(epoch_seconds):.2f}",
               "teacher step peak MiB": f"{steps.loc[teacher_steps, 'peak_rss_mb'].max():.0f}"}
        if distributed:
            row["partition s / peak MiB"] = (f"{steps.loc['partition_graph', 'seconds']:.0f} / "
                                             f"{steps.loc['partition_graph', 'peak_rss_mb']:.0f}")
            row["DistDGL processes peak MiB"] = ", ".join(f"{name} {mib:.0f}" for name, mib in sorted(peaks.items()))
        rows.append(row)
        summary = outcome.summary
        test = summary[summary["part"] == "test"].set_index("model")
        scores.append({"run": mode, **{model: f"{100 * test.loc[model, 'micro_f1_mean']:.2f} ± "
                                              f"{100 * test.loc[model, 'micro_f1_std']:.2f}" for model in test.index}})
        print(f"{mode}: {seconds:.0f} s", flush=True)
    print("\n" + markdown_table(pd.DataFrame(rows).fillna("")))
    print("\nTest Micro-F1 in % (mean ± std over seeds):\n\n" + markdown_table(pd.DataFrame(scores)))


if __name__ == "__main__":
    main()
