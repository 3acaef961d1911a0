"""Benchmark: teacher HGNN vs MLP student inference latency, in one process, logged to MLflow.

    ./scripts/with-env python -m benchmarks.inference --dataset igb [--batch-sizes 1 256 4096 all]
    ./scripts/with-env python run.py benchmark --dataset igb             (the same)

It benchmarks the models of the newest completed distill run of the dataset (or `--run`): the
registered student and the teacher of the same setting and seed, on that run's graph. The teacher's
time per batch includes neighbourhood sampling (the teacher config's inference fanouts, or
`--fanouts`) and feature fetching; the student's includes fetching its batch's feature rows. Medians
over `--repeats` random batches of test nodes, after `--warmup` untimed batches. The results go to the
MLflow experiment hg2m-inference-<dataset> (params, one metric per cell, the table as an artifact).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from hg2m.config import ConfigError, named_config_path, read_yaml
from hg2m.environment import configure_environment, default_mlflow_uri, local_artifact_root

DEFAULT_BATCH_SIZES = ["1", "256", "4096", "all"]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default="dblp", help="dataset config name (configs/datasets/)")
    parser.add_argument("--run", default=None, help="ZenML distill run name or id (default: the dataset's newest)")
    parser.add_argument("--batch-sizes", nargs="+", default=DEFAULT_BATCH_SIZES,
                        help="target nodes per batch; 'all' = every test node in one batch")
    parser.add_argument("--repeats", type=int, default=20, help="timed batches per batch size")
    parser.add_argument("--warmup", type=int, default=3, help="untimed batches per batch size, run first")
    parser.add_argument("--fanouts", type=int, nargs="+", default=None,
                        help="teacher neighbours per relation and layer (default: the run's teacher config)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--mlflow-uri", default=None, help="MLflow tracking URI (default: the project's SQLite store)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_environment()
    import torch

    from hg2m.benchmark import BenchmarkSetup, benchmark_inference, parse_batch_size
    from hg2m.evaluate import markdown_table
    from hg2m.resources import peak_rss_mb
    from hg2m.train import resolve_device
    from pipelines.distill import find_distill_run

    try:
        dataset_name = read_yaml(named_config_path("dataset", args.dataset))["name"]
        sizes = [parse_batch_size(size) for size in args.batch_sizes]
        if args.repeats < 1 or args.warmup < 0:
            raise ConfigError("--repeats must be at least 1 and --warmup at least 0")
        run = find_distill_run(dataset_name, args.run)
    except (ConfigError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    registration, config = run.registration, run.config
    graph = run.graph()
    teacher = run.teacher_model(registration.run)
    student = run.student_model(registration.student, registration.run)
    teacher_config = config.teacher_config(run.teacher_name)
    fanouts = args.fanouts or teacher_config.sampling.predict_fanouts
    setup = BenchmarkSetup(batch_sizes=sizes, repeats=args.repeats, warmup=args.warmup, fanouts=fanouts)
    device = resolve_device(args.device)
    print(f"Benchmarking ZenML run {run.run.name}: teacher {teacher_config.model} (fanouts {fanouts}) vs "
          f"student {registration.student} on {len(graph.splits['test'])} test nodes of "
          f"{graph.num_target_nodes} {graph.target_type} nodes, {device}, {torch.get_num_threads()} threads ...")
    layout = run.student_inputs(registration.student).layout
    table, accuracy = benchmark_inference(teacher, student, layout, graph, setup, device)
    peak = peak_rss_mb()
    params = {
        "dataset": dataset_name, "zenml_run": run.run.name, "snapshot_hash": graph.snapshot_hash,
        "teacher": teacher_config.model, "student": registration.student, "student_inputs": layout.kind,
        "registered_model": f"{registration.name} v{registration.version}", "fanouts": fanouts,
        "repeats": args.repeats, "warmup": args.warmup, "device": str(device), "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(), "machine": platform.platform(),
        "gpu": torch.cuda.get_device_name() if device.type == "cuda" else "none",
    }
    uri = args.mlflow_uri or default_mlflow_uri()
    mlflow_run_id = log_to_mlflow(uri, f"hg2m-inference-{dataset_name}", params, table, {**accuracy, "peak_rss_mb": peak})
    print("\n" + markdown_table(table, digits=2))
    print(f"\nTest accuracy (all test nodes, through the timed paths): teacher {accuracy['teacher_test_accuracy']:.4f}, "
          f"student {accuracy['student_test_accuracy']:.4f}. Peak memory {peak:.0f} MiB. MLflow run {mlflow_run_id}.")
    return 0


def log_to_mlflow(uri: str, experiment: str, params: dict, table, metrics: dict[str, float]) -> str:
    import mlflow

    from hg2m.benchmark import metric_name
    from hg2m.evaluate import markdown_table
    from hg2m.tracking import ensure_experiment

    if uri.startswith("sqlite:"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    ensure_experiment(uri, experiment, local_artifact_root(uri))
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(experiment)
    with mlflow.start_run(run_name=f"inference-{params['zenml_run']}") as active:
        mlflow.log_params(params)
        for row in table.to_dict("records"):
            for column in ("teacher_ms", "teacher_sampling_ms", "student_ms", "teacher_nodes_per_s",
                           "student_nodes_per_s", "speedup"):
                mlflow.log_metric(metric_name(column, row["batch_size"]), row[column])
        mlflow.log_metrics(metrics)
        mlflow.log_text(markdown_table(table, digits=2), "inference_latency.md")
        mlflow.log_text(table.to_csv(index=False), "inference_latency.csv")
        return active.info.run_id


if __name__ == "__main__":
    sys.exit(main())
