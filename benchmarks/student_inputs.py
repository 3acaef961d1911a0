"""Benchmark: the two student input kinds side by side, `own` features and `own+neighbours` one-hop inputs.

    ./scripts/with-env python -m benchmarks.student_inputs [--datasets dblp acm imdb aminer] [--seeds 0 1 2]
        [--teacher rgcn]
    ./scripts/with-env python -m benchmarks.student_inputs --datasets igb --snapshot snapshots/igb-200k

For each dataset, one distill run (one teacher, RGCN unless --teacher says otherwise; both settings) trains
`mlp` and `hg2m` on each input kind (a featureless target has no `own` kind: those rows are left out), in
throw-away ZenML and MLflow stores, and prints test Micro-F1 (mean ± std over seeds): transductive test, and
inductive observed / held-out test. Then the inference cost of each input kind: the teacher and every student
of the transductive first-seed run, timed through hg2m.benchmark (the benchmark behind `run.py benchmark`):
for `own+neighbours` the student's time includes looking up each node's edges and gathering and averaging its
neighbours' rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

KINDS = {"own": "", "own+neighbours": "_nb"}


def students(target_has_features: bool, max_epochs: int | None = None) -> list[dict]:
    kinds = KINDS if target_has_features else {"own+neighbours": KINDS["own+neighbours"]}
    cap = {"optim": {"max_epochs": max_epochs}} if max_epochs else {}
    return [{"name": f"{method}{suffix}", "method": method, "inputs": kind, **cap}
            for kind, suffix in kinds.items() for method in ("mlp", "hg2m")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=["dblp", "acm", "imdb", "aminer"])
    parser.add_argument("--snapshot", type=Path, default=None, help="a snapshot folder for the (single) dataset")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--teacher", default="rgcn",
                        help="the one teacher both input kinds distil from (default rgcn; auto trains four)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--student-epochs", type=int, default=None, help="cap every student's epochs (large graphs)")
    parser.add_argument("--batch-sizes", nargs="+", default=["1", "256", "all"], help="latency batch sizes")
    parser.add_argument("--repeats", type=int, default=10, help="timed batches per batch size")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hg2m-bench-"))
    from hg2m.environment import use_private_stores

    use_private_stores(home)
    import pandas as pd
    import torch

    from hg2m.benchmark import parse_batch_size
    from hg2m.config import CONFIG_DIR, load_run_config
    from hg2m.data.raw import dataset_facts
    from hg2m.evaluate import TEACHER_CANDIDATE, markdown_table
    from hg2m.train import resolve_device
    from pipelines.distill import run_distill

    distill_yaml = CONFIG_DIR / "pipelines" / "distill.yaml"
    rows, latencies = [], []
    for dataset in args.datasets:
        base = load_run_config(distill_yaml, dataset, snapshot=args.snapshot)
        facts = dataset_facts(base.dataset)
        overrides = {"device": args.device, "evaluation.seeds": args.seeds,
                     "students": students(facts.has_features(facts.target_type), args.student_epochs)}
        config = load_run_config(distill_yaml, dataset, overrides, snapshot=args.snapshot, teacher=args.teacher)
        outcome = run_distill(config, f"sqlite:///{home / 'mlflow.db'}", home / "artifacts")
        summary = outcome.summary.set_index(["model", "setting", "part"])
        shown = outcome.summary.loc[outcome.summary["method"] != TEACHER_CANDIDATE, "model"]  # auto's candidates
        for model in shown.unique():
            cells = {"dataset": dataset, "model": model}
            for setting, part in (("transductive", "test"), ("inductive", "test_observed"),
                                  ("inductive", "test_held_out")):
                row = summary.loc[(model, setting, part)]
                cells[f"{setting} {part}"] = f"{100 * row.micro_f1_mean:.2f} ± {100 * row.micro_f1_std:.2f}"
            rows.append(cells)
        print(f"\n{dataset}: steps (wall seconds, peak RSS MiB):\n", flush=True)
        print(markdown_table(outcome.step_table().fillna("-"), digits=1), flush=True)
        print(markdown_table(pd.DataFrame([r for r in rows if r["dataset"] == dataset])), flush=True)
        latencies += inference_cost(outcome, dataset, [parse_batch_size(b) for b in args.batch_sizes], args.repeats,
                                    resolve_device(args.device))
    print(f"\nTest Micro-F1 in %, mean ± std over seeds {args.seeds}; *_nb = own+neighbours inputs. "
          f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, device {args.device}.\n")
    print(markdown_table(pd.DataFrame(rows)))
    print("\nInference latency, median ms per batch of test nodes (transductive, seed 0; teacher on sampled "
          "neighbourhoods):\n")
    print(markdown_table(pd.DataFrame(latencies), digits=2))


def inference_cost(outcome, dataset: str, batch_sizes: list, repeats: int, device) -> list[dict]:
    """Median latency of the teacher and of each student on its own inputs, per batch size."""
    from hg2m.benchmark import BenchmarkSetup, benchmark_inference
    from hg2m.plan import Run
    from hg2m.resources import peak_rss_mb

    run = Run(setting="transductive", seed=outcome.config.evaluation.seeds[0])
    graph, teacher = outcome.graph(), outcome.teacher_model(run)
    fanouts = outcome.config.teacher_config(outcome.teacher_name).sampling.predict_fanouts
    setup = BenchmarkSetup(batch_sizes=batch_sizes, repeats=repeats, warmup=2, fanouts=fanouts)
    rows = []
    for student in outcome.plan.students:
        layout = outcome.student_inputs(student.name).layout
        table, _ = benchmark_inference(teacher, outcome.student_model(student.name, run), layout, graph, setup, device)
        for row in table.itertuples(index=False):
            rows.append({"dataset": dataset, "student": student.name, "inputs": layout.kind,
                         "batch": row.batch_size, "student_ms": row.student_ms,
                         f"teacher ({outcome.teacher_name}) ms": row.teacher_ms, "speedup": row.speedup})
        print(f"latency of {student.name} measured; peak RSS so far {peak_rss_mb():.0f} MiB", flush=True)
    return rows


if __name__ == "__main__":
    main()
