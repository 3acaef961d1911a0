"""Benchmark: one student's step, re-run on a finished distill run's artifacts, with its peak resident memory.

    ./scripts/with-env python -m benchmarks.student_memory --dataset igb [--run NAME] [--student hg2m_plus]
        [--project DIR] [--processes N] [--epochs N]

Loads the run's preprocessed graph, the student's inputs, the first run's split and teacher soft labels, and the
meta-path pairs (when the student uses them) from ZenML (the store of `--project`, default this repository), then
does what the student step does for that run (reliable nodes, signals, training) with the current code, and prints
the time and the peak resident memory of building the signals and of training, each measured from the loaded
artifacts on (hg2m.resources). Useful after a change to a student's memory use, without re-running the pipeline.
With `--processes N` the student trains data-parallel in N processes (hg2m.distributed.students), and each rank's
peak is printed too; `--epochs` caps its epochs (default: the run's config).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="igb")
    parser.add_argument("--run", default=None, help="ZenML distill run name or id (default: the dataset's newest)")
    parser.add_argument("--student", default="hg2m_plus")
    parser.add_argument("--project", type=Path, default=None, help="the project folder whose stores hold the run")
    parser.add_argument("--processes", type=int, default=1, help="data-parallel processes (DDP) for the training")
    parser.add_argument("--epochs", type=int, default=None, help="cap the student's epochs")
    args = parser.parse_args()
    from hg2m.config import PROJECT_ROOT, named_config_path, read_yaml
    from hg2m.environment import configure_environment

    configure_environment(args.project or PROJECT_ROOT)  # before anything imports zenml
    import torch

    from hg2m.distill.reliability import reliable_mask, unlabelled_nodes
    from hg2m.distill.signals import build_signals
    from hg2m.distributed.students import train_student_data_parallel
    from hg2m.resources import peak_rss_mb, reset_peak_rss
    from hg2m.student import train_student
    from pipelines.distill import METAPATHS, find_distill_run, inputs_step, split_step, teacher_step

    run = find_distill_run(read_yaml(named_config_path("dataset", args.dataset))["name"], args.run)
    plan = run.plan.student(args.student)
    if args.epochs is not None:
        optim = plan.config.optim.model_copy(update={"max_epochs": args.epochs})
        plan = plan.model_copy(update={"config": plan.config.model_copy(update={"optim": optim})})
    first = run.plan.runs[0]
    graph = run.graph()
    inputs = run.load(inputs_step(plan.inputs), "student_inputs")
    split = run.load(split_step(first), "run_split")
    teacher = run.load(teacher_step(first), "teacher_run") if plan.soft_labels else None
    pairs = run.load(METAPATHS, "metapath_neighbours") if plan.metapath_term else None
    print(f"{args.student} on {first.key} of {run.run.name}; artifacts loaded ({peak_rss_mb():,.0f} MiB)", flush=True)

    reset_peak_rss()
    started = time.perf_counter()
    rows = inputs.for_split(graph, split)
    reliable = reliable_mask(teacher.logits, graph.labels, graph.splits["train"],
                             unlabelled_nodes(graph.splits, split.observed()), plan.reliable_ratio) \
        if plan.reliability else None
    signals = build_signals(graph, rows, plan, split, teacher=teacher, reliable=reliable, pairs=pairs)
    print(f"signals: {time.perf_counter() - started:.0f} s, peak {peak_rss_mb():,.0f} MiB", flush=True)
    reset_peak_rss()
    started = time.perf_counter()
    ranks = ""
    if args.processes == 1:
        trained = train_student(graph, rows, signals, plan, first.seed, torch.device("cpu"))
    else:
        trained, peaks = train_student_data_parallel(graph, rows, signals, plan, first.seed, torch.device("cpu"),
                                                     args.processes)
        ranks = " (this process); " + ", ".join(f"{name} {mib:,.0f} MiB" for name, mib in sorted(peaks.items()))
    seconds = time.perf_counter() - started
    epoch_seconds = sorted(r["epoch_seconds"] for r in trained.fit.history)[len(trained.fit.history) // 2]
    print(f"training in {args.processes} process(es): {seconds:.0f} s for {trained.fit.epochs_run} epochs (median "
          f"{epoch_seconds:.2f} s/epoch), peak {peak_rss_mb():,.0f} MiB{ranks}; test Micro-F1 "
          f"{100 * trained.metrics['test']['micro_f1']:.2f}", flush=True)


if __name__ == "__main__":
    main()
