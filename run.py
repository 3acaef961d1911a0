#!/usr/bin/env python
"""hg2m command line: run a pipeline, print its summary.

    python run.py --pipeline distill --dataset dblp
    python run.py --pipeline distill --dataset acm --teacher han
    python run.py --pipeline distill --dataset dblp --epochs 20 --seeds 1 --students mlp hg2m --no-cache
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from hg2m.config import CONFIG_DIR, PROJECT_ROOT, ConfigError, RunConfig, load_run_config
from hg2m.environment import MLFLOW_STORE, configure_environment, default_mlflow_uri

PIPELINES = ("distill",)
TEACHERS = sorted(p.stem for p in (CONFIG_DIR / "teachers").glob("*.yaml"))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except for flags whose default is 'whatever the config says'."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="run.py",
        description="Distil a heterogeneous GNN teacher into MLP students and register the best one in MLflow. "
        "Runs and artifacts go to ZenML's local store (.zenml_home/) and MLflow's SQLite store (mlflow_store/) "
        "inside the project unless configured otherwise.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--pipeline", choices=PIPELINES, default="distill", help="which pipeline to run")
    parser.add_argument("--dataset", default=None,
                        help="built-in dataset, a file name under configs/datasets/ (default: the config's "
                        "dataset_name, dblp)")
    parser.add_argument("--teacher", choices=TEACHERS, default=None,
                        help="teacher HGNN, a file under configs/teachers/ (default: the config's teacher, rgcn)")
    parser.add_argument("--config", type=Path, default=CONFIG_DIR / "pipelines" / "distill.yaml",
                        help="pipeline config YAML (teacher, students, training, tracking)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="maximum epochs for the teacher and every student (quick runs)")
    parser.add_argument("--teacher-epochs", type=int, default=None, help="maximum epochs for the teacher")
    parser.add_argument("--student-epochs", type=int, default=None, help="maximum epochs for every student")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="seeds to train every model with; the table shows mean ± std over them "
                        "(default: the config's, 0 1 2)")
    parser.add_argument("--settings", nargs="+", choices=("transductive", "inductive"), default=None,
                        help="evaluation settings (inductive holds out part of the test nodes)")
    parser.add_argument("--students", nargs="+", default=None,
                        help="train only these students (names from the pipeline config)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="torch device")
    parser.add_argument("--no-cache", action="store_true", help="re-run every step instead of reusing cached ones")
    parser.add_argument("--mlflow-uri", default=None,
                        help="MLflow tracking URI, e.g. http://127.0.0.1:5000 (default: the config's, "
                        f"else sqlite:///<project>/{MLFLOW_STORE}/mlflow.db)")
    return parser.parse_args(argv)


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    """Turn CLI flags into dotted-key config overrides (students.* applies to every student)."""
    teacher_epochs = args.teacher_epochs or args.epochs
    student_epochs = args.student_epochs or args.epochs
    candidates = {
        "teacher.optim.max_epochs": teacher_epochs,
        "students.*.optim.max_epochs": student_epochs,
        "evaluation.seeds": args.seeds,
        "evaluation.settings": args.settings,
        "device": args.device,
        "enable_cache": False if args.no_cache else None,
        "tracking.mlflow_tracking_uri": args.mlflow_uri,
    }
    return {key: value for key, value in candidates.items() if value is not None}


def select_students(config: RunConfig, names: list[str] | None) -> RunConfig:
    """Keep only the named students, in config order; unknown names are an error."""
    if not names:
        return config
    known = [s.name for s in config.students]
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ConfigError(f"unknown students {unknown}; the config defines {known}")
    return config.model_copy(update={"students": [s for s in config.students if s.name in names]})


def print_summary(config: RunConfig, outcome, tracking_uri: str, seconds: float) -> None:
    from hg2m.evaluate import display_table, markdown_table

    reg = outcome.registration
    print(f"\nDistilled on {config.dataset.name} (snapshot {reg['snapshot_hash'][:12]}), "
          f"ZenML run {outcome.run.name}, {seconds:.1f} s. Test scores in %, mean ± std over seeds:\n")
    print(markdown_table(display_table(outcome.summary)))
    print(f"\nRegistered {reg['student']} ({reg['setting']}, seed {reg['seed']}) as {reg['name']} version "
          f"{reg['version']} (aliases: {', '.join(reg['aliases'])}); "
          f"load it with mlflow.pytorch.load_model('{reg['model_uri']}')")
    if tracking_uri.startswith("sqlite:"):
        print("\nBrowse runs, metrics and models in the MLflow UI:\n"
              f"  .venv/bin/mlflow ui --backend-store-uri {tracking_uri} --host 127.0.0.1 --port 5000\n"
              "  then open http://127.0.0.1:5000")
    else:
        print(f"\nMLflow tracking server: {tracking_uri}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    configure_environment()
    try:
        config = select_students(load_run_config(args.config, args.dataset, overrides_from(args), args.teacher), args.students)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    tracking_uri = config.tracking.mlflow_tracking_uri or default_mlflow_uri()
    if tracking_uri.startswith("sqlite:"):
        (PROJECT_ROOT / MLFLOW_STORE).mkdir(exist_ok=True)

    from pipelines.distill import run_distill  # imports zenml: only after the environment is set

    started = time.perf_counter()
    try:
        outcome = run_distill(config, tracking_uri)
    except Exception as err:  # a failed step: say which and why, without a wall of traceback
        print(f"\nerror: the {args.pipeline} pipeline failed: {type(err).__name__}: {err}", file=sys.stderr)
        print("Nothing was registered. Step logs: .venv/bin/zenml pipeline runs list", file=sys.stderr)
        return 1
    print_summary(config, outcome, tracking_uri, time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
