#!/usr/bin/env python
"""hg2m command line: run a pipeline, print its summary.

    python run.py --pipeline distill --dataset dblp
    python run.py --pipeline distill --dataset acm --teacher han
    python run.py --pipeline distill --snapshot my_graph/            # your own graph (snapshot format)
    python run.py --pipeline retrain --snapshot-dir snapshots/ --dataset dblp
    python run.py --pipeline retrain --snapshot-dir snapshots/ --dataset dblp --cron "0 3 * * *"
    python run.py --pipeline distill --dataset dblp --epochs 20 --seeds 1 --students mlp hg2m --no-cache
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from hg2m.config import CONFIG_DIR, PROJECT_ROOT, ConfigError, RunConfig, load_run_config
from hg2m.environment import MLFLOW_STORE, configure_environment, default_mlflow_uri

PIPELINES = ("distill", "retrain")
RETRAIN_LOCK = ".zenml_home/retrain.lock"
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
    parser.add_argument("--pipeline", choices=PIPELINES, default="distill",
                        help="distill: train and register on one dataset or snapshot; retrain: train on the newest "
                        "snapshot of --snapshot-dir if it is new, and promote the student only if it is better")
    parser.add_argument("--snapshot", type=Path, default=None,
                        help="distill a snapshot folder (README: 'The snapshot format') instead of a built-in "
                        "dataset; with --dataset, that dataset's meta-paths and name are used")
    parser.add_argument("--snapshot-dir", type=Path, default=None,
                        help="retrain: the folder whose snapshot subfolders arrive over time (newest = last by name)")
    parser.add_argument("--margin", type=float, default=None,
                        help="retrain: promote when the challenger's test Micro-F1 beats the champion's by more "
                        "than this (default: the config's promotion.margin)")
    parser.add_argument("--cron", default=None,
                        help="retrain: print a crontab line that runs this retrain on the schedule "
                        "(5-field cron expression, e.g. '0 3 * * *') instead of running it now")
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
        "promotion.margin": args.margin,
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


def check_arguments(args: argparse.Namespace) -> None:
    """Flags that belong to one pipeline only, and the cron expression's shape."""
    if args.pipeline == "retrain" and args.snapshot_dir is None:
        raise ConfigError("--pipeline retrain needs --snapshot-dir (the folder that new snapshots arrive in)")
    if args.pipeline == "distill" and (args.snapshot_dir or args.cron):
        raise ConfigError("--snapshot-dir and --cron belong to --pipeline retrain")
    if args.pipeline == "retrain" and args.snapshot:
        raise ConfigError("--snapshot belongs to --pipeline distill; retrain takes --snapshot-dir")
    if args.cron is not None and len(args.cron.split()) != 5:
        raise ConfigError(f"--cron {args.cron!r}: expected 5 fields (minute hour day month weekday)")


def crontab_line(args: argparse.Namespace, argv: list[str]) -> str:
    """A crontab entry running this same retrain command from the project folder, logging to retrain.log."""
    flags, skip = [], False
    for item in argv:
        if skip or item == "--cron" or item.startswith("--cron="):
            skip = item == "--cron"
            continue
        flags.append(str(args.snapshot_dir.resolve()) if flags and flags[-1] == "--snapshot-dir" else item)
    command = shlex.join(["./scripts/with-env", "python", "run.py", *flags])
    return f"{args.cron} cd {shlex.quote(str(PROJECT_ROOT))} && {command} >> retrain.log 2>&1"


def load_config(args: argparse.Namespace, snapshot: Path | None) -> RunConfig:
    config = load_run_config(args.config, args.dataset, overrides_from(args), args.teacher, snapshot)
    return select_students(config, args.students)


def run_pipeline(args: argparse.Namespace, config: RunConfig, tracking_uri: str) -> None:
    from pipelines.distill import run_distill  # imports zenml: only after the environment is set
    from pipelines.retrain import run_retrain

    started = time.perf_counter()
    if args.pipeline == "distill":
        outcome = run_distill(config, tracking_uri)
        print_summary(config, outcome, tracking_uri, time.perf_counter() - started)
        return
    retrain = run_retrain(args.snapshot_dir, lambda folder: load_config(args, folder), tracking_uri,
                          PROJECT_ROOT / RETRAIN_LOCK)
    if retrain.distill is None:
        print(f"Nothing to do: the newest snapshot, {retrain.snapshot} ({retrain.snapshot_hash[:12]}), "
              "was trained on already.")
        return
    print_summary(retrain.config, retrain.distill, tracking_uri, time.perf_counter() - started)
    d = retrain.decision
    champion = "none" if d["champion_version"] is None else f"version {d['champion_version']}: {d['champion_score']:.4f}"
    print(f"\nGate on {retrain.snapshot.name}: challenger version {d['challenger_version']}: "
          f"{d['challenger_score']:.4f} test Micro-F1, champion {champion}, margin {d['margin']}. "
          f"{'Promoted to champion' if d['promote'] else 'Champion kept'}: {d['reason']}.")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    configure_environment()
    try:
        check_arguments(args)
        if args.cron is not None:
            print("Add this line to your crontab (crontab -e); runs never overlap (run.py holds a lock):")
            print(crontab_line(args, argv))
            return 0
        config = load_config(args, args.snapshot)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    tracking_uri = config.tracking.mlflow_tracking_uri or default_mlflow_uri()
    if tracking_uri.startswith("sqlite:"):
        (PROJECT_ROOT / MLFLOW_STORE).mkdir(exist_ok=True)
    try:
        run_pipeline(args, config, tracking_uri)
    except Exception as err:  # a failed step: say which and why, without a wall of traceback
        print(f"\nerror: the {args.pipeline} pipeline failed: {type(err).__name__}: {err}", file=sys.stderr)
        print("The failed step registered and promoted nothing. Step logs: .venv/bin/zenml pipeline runs list",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
