#!/usr/bin/env python
"""hg2m command line: run a pipeline and print its summary, or run a command (predict, generate, benchmark).

    python run.py --pipeline distill --dataset dblp
    python run.py --pipeline distill --dataset acm --teacher han
    python run.py --pipeline distill --snapshot my_graph/            # your own graph (snapshot format)
    python run.py --pipeline retrain --snapshot-dir snapshots/ --dataset dblp
    python run.py --pipeline retrain --snapshot-dir snapshots/ --dataset dblp --cron "0 3 * * *"
    python run.py --pipeline distill --dataset dblp --epochs 20 --seeds 1 --students mlp hg2m --no-cache
    python run.py predict --input nodes.parquet --output predictions.parquet    # the dblp champion's predictions
    python run.py generate --out snapshots/igb-1m                                # a 1M-paper synthetic graph
    python run.py benchmark --dataset igb                                        # teacher vs student latency
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import time
import traceback
from datetime import datetime
from pathlib import Path
from typing import NoReturn

from hg2m.config import (
    AUTO_TEACHER,
    CONFIG_DIR,
    PROJECT_ROOT,
    SETTINGS,
    TEACHER_NAMES,
    ConfigError,
    RunConfig,
    load_run_config,
)
from hg2m.contracts import CHALLENGER_ALIAS, CHAMPION_ALIAS
from hg2m.environment import MLFLOW_STORE, configure_environment, default_mlflow_uri
from hg2m.plan import plan_run

PIPELINES = ("distill", "retrain")
RETRAIN_LOCK = ".zenml_home/retrain.lock"
DISTILL_CONFIG = CONFIG_DIR / "pipelines" / "distill.yaml"
FAILURE_LOGS = "logs"  # full tracebacks of failed runs, inside the project (git-ignored)
MLFLOW_URI_HELP = (f"MLflow tracking URI, e.g. http://127.0.0.1:5000 (default: the config's, else "
                   f"sqlite:///<project>/{MLFLOW_STORE}/mlflow.db)")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows defaults, except for flags whose default is 'whatever the config says'."""

    def _get_help_string(self, action: argparse.Action) -> str:
        if action.default in (None, False):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """A bad flag is one line naming it, with where the help is, not argparse's usage block first."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="run.py",
        description="Distil a heterogeneous GNN teacher into MLP students and register the best one in MLflow. "
        "Runs and artifacts go to ZenML's local store (.zenml_home/) and MLflow's SQLite store (mlflow_store/) "
        "inside the project unless configured otherwise.",
        epilog="Commands (each with its own --help): " + "; ".join(
            f"run.py {name}: {summary}" for name, (_, summary) in COMMANDS.items()) + ".",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--pipeline", choices=PIPELINES, default="distill",
                        help="distill: train on one dataset or snapshot and register the best student as challenger; "
                        "retrain: the same on the newest snapshot of --snapshot-dir, only if no model was trained on "
                        "it yet. Both end in the gate: the challenger becomes champion only if it is better")
    parser.add_argument("--snapshot", type=Path, default=None,
                        help="distill a snapshot folder (docs/snapshot-format.md) instead of a built-in "
                        "dataset; with --dataset, that dataset's meta-paths and name are used")
    parser.add_argument("--snapshot-dir", type=Path, default=None,
                        help="retrain: the folder whose snapshot subfolders arrive over time (newest = last by name)")
    parser.add_argument("--margin", type=float, default=None,
                        help="the gate: promote when the challenger's test Micro-F1 beats the champion's by at "
                        "least this (default: the config's promotion.margin)")
    parser.add_argument("--cron", default=None,
                        help="retrain: print a crontab line that runs this retrain on the schedule "
                        "(5-field cron expression, e.g. '0 3 * * *') instead of running it now")
    parser.add_argument("--dataset", default=None,
                        help="dataset config: a name under configs/datasets/ (dblp, acm, imdb, ...) or the path of "
                        "your own YAML (default: the config's dataset_name, dblp; with --snapshot: none)")
    parser.add_argument("--teacher", choices=(*TEACHER_NAMES, AUTO_TEACHER), default=None,
                        help="teacher HGNN, a file under configs/teachers/, or auto: train every candidate on the "
                        "first seed and keep the best on validation (default: the config's, auto)")
    parser.add_argument("--teacher-candidates", nargs="+", choices=TEACHER_NAMES, default=None,
                        help="the teachers that auto tries (default: the dataset config's, else the pipeline "
                        "config's: all four)")
    parser.add_argument("--config", type=Path, default=DISTILL_CONFIG,
                        help="pipeline config YAML (teacher, students, training, tracking)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="maximum epochs for the teacher and every student (quick runs)")
    parser.add_argument("--teacher-epochs", type=positive_int, default=None, help="maximum epochs for the teacher")
    parser.add_argument("--student-epochs", type=positive_int, default=None, help="maximum epochs for every student")
    parser.add_argument("--trials", type=non_negative_int, default=None,
                        help="Optuna trials per student on validation before it trains on every seed (0: none; "
                        "default: the config's tuning.trials)")
    parser.add_argument("--seeds", type=non_negative_int, nargs="+", default=None,
                        help="seeds to train every model with; the table shows mean ± std over them "
                        "(default: the config's, 0 1 2)")
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=None,
                        help="evaluation settings (inductive holds out part of the test nodes)")
    parser.add_argument("--students", nargs="+", default=None,
                        help="train only these students (names from the pipeline config)")
    parser.add_argument("--partitions", type=positive_int, default=None,
                        help="train the teacher on this many partitions of the graph with DistDGL (one graph server "
                        "and one trainer each, here on this host; transductive only; docs/scale.md). Sets "
                        "distributed.enabled and distributed.num_parts")
    parser.add_argument("--student-processes", type=positive_int, default=None,
                        help="train every student data-parallel in this many processes on this host (PyTorch DDP; "
                        "the same updates as one process). Sets distributed.student_processes")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default=None, help="torch device")
    parser.add_argument("--no-cache", action="store_true", help="re-run every step instead of reusing cached ones")
    parser.add_argument("--mlflow-uri", default=None, help=MLFLOW_URI_HELP)
    return parser.parse_args(argv)


def overrides_from(args: argparse.Namespace) -> dict[str, object]:
    """Turn CLI flags into dotted-key config overrides (students.* applies to every student)."""
    teacher_epochs = args.teacher_epochs if args.teacher_epochs is not None else args.epochs
    student_epochs = args.student_epochs if args.student_epochs is not None else args.epochs
    candidates = {
        "teacher.optim.max_epochs": teacher_epochs,
        "students.*.optim.max_epochs": student_epochs,
        "evaluation.seeds": args.seeds,
        "tuning.trials": args.trials,
        "evaluation.settings": args.settings,
        "device": args.device,
        "enable_cache": False if args.no_cache else None,
        "tracking.mlflow_tracking_uri": args.mlflow_uri,
        "promotion.margin": args.margin,
        "distributed.enabled": True if args.partitions else None,
        "distributed.num_parts": args.partitions,
        "distributed.student_processes": args.student_processes,
    }
    return {key: value for key, value in candidates.items() if value is not None}


def print_summary(outcome, tracking_uri: str, seconds: float) -> None:
    """The results table, the step table, what was registered and what the gate decided."""
    from hg2m.evaluate import display_table, markdown_table, teacher_warnings

    reg, gate = outcome.registration, outcome.gate_decision
    print(f"\nDistilled on {outcome.config.dataset.name} (snapshot {reg.snapshot_hash[:12]}), "
          f"ZenML run {outcome.run.name}, {seconds:.1f} s. Test scores in %, mean ± std over seeds:\n")
    print(markdown_table(display_table(outcome.summary)))
    if outcome.teacher_selection:
        print(f"\nTeacher (auto): {outcome.teacher_selection.reason}")
    for warning in teacher_warnings(outcome.results):
        print(f"\nwarning: {warning}")
    steps = outcome.step_table().fillna("-")  # cached steps ran no code: no peak memory
    print("\nSteps (wall seconds; peak resident memory of the step, MiB):\n")
    print(markdown_table(steps, digits=1))
    champion = "none" if gate.champion_version is None else f"version {gate.champion_version}: {gate.champion_score:.4f}"
    verdict = f"Promoted to {CHAMPION_ALIAS}" if gate.promote else "Champion kept"
    print(f"\nRegistered {reg.student} ({reg.run.setting}, seed {reg.run.seed}) as {reg.name} version {reg.version} "
          f"(alias {CHALLENGER_ALIAS}): {reg.reason}.\n"
          f"Gate: challenger {gate.challenger_score:.4f} test Micro-F1, champion {champion}, margin {gate.margin}. "
          f"{verdict}: {gate.reason}.\n"
          f"Load it with mlflow.pyfunc.load_model('{reg.model_uri}'), or serve it (docs/serving.md):\n"
          f"  ./scripts/with-env python run.py serve --model {reg.model_uri} --mlflow-uri {tracking_uri}")
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
    """The config with every flag applied, validated, its meta-paths derived if none are configured, and checked to
    be trainable (its plan)."""
    config = load_run_config(args.config, args.dataset, overrides_from(args), args.teacher, snapshot, args.students,
                             args.teacher_candidates)
    return plan_run(config)[0]


def run_pipeline(args: argparse.Namespace, config: RunConfig, tracking_uri: str) -> None:
    from pipelines.distill import run_distill  # imports zenml: only after the environment is set
    from pipelines.retrain import run_retrain
    from pipelines.sessions import pipeline_session
    from pipelines.stack import console_without_step_tracebacks

    console_without_step_tracebacks()
    started = time.perf_counter()
    # held shared by every pipeline process on this ZenML store (pipelines.sessions)
    session_lock = Path(os.environ["ZENML_CONFIG_PATH"]) / "session.lock"
    with pipeline_session(session_lock, tracking_uri) as closed:
        if closed:
            print(f"Closed {len(closed)} runs a killed process had left open: {', '.join(closed)}.")
        if args.pipeline == "distill":
            outcome = run_distill(config, tracking_uri)
        else:
            retrain = run_retrain(args.snapshot_dir, lambda folder: load_config(args, folder), tracking_uri,
                                  PROJECT_ROOT / RETRAIN_LOCK)
            if retrain.distill is None:
                print(f"Nothing to do: the newest snapshot, {retrain.snapshot} ({retrain.snapshot_hash[:12]}), "
                      "was trained on already.")
                return
            outcome = retrain.distill
    print_summary(outcome, tracking_uri, time.perf_counter() - started)


def parse_predict_args(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="run.py predict",
        description="Predict the class of every node in a Parquet node table with a registered student, and write "
        "the predictions as Parquet: id, prediction (class index), class_name (when the dataset names its "
        "classes), prob_<c> per class. The output appears only when every row was predicted.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--input", type=Path, required=True,
                        help="Parquet node table, as in a snapshot's nodes/<target>.parquet: `id` int64 and dense "
                        "`feat` list<float32>, or sparse `feat_idx` list<int32> + `feat_val` list<float32>")
    parser.add_argument("--output", type=Path, required=True, help="Parquet file to write (replaced if present)")
    add_model_flags(parser)
    parser.add_argument("--batch-size", type=positive_int, default=10_000, help="nodes per forward pass")
    return parser.parse_args(argv)


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    """Which registered model, in which store: predict's and serve's flags (resolved by predict_target)."""
    parser.add_argument("--model", default=None,
                        help="model URI, e.g. models:/hg2m-dblp/3 (default: models:/<registered model of "
                        "--dataset>@champion)")
    parser.add_argument("--dataset", default=None,
                        help="whose registered model to use without --model (default: the config's dataset_name, dblp)")
    parser.add_argument("--config", type=Path, default=DISTILL_CONFIG,
                        help="pipeline config YAML (registered model prefix, tracking URI)")
    parser.add_argument("--mlflow-uri", default=None, help=MLFLOW_URI_HELP)


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer of 0 or more, got {value}")
    return value


def predict_target(args: argparse.Namespace) -> tuple[str, str]:
    """(model URI, tracking URI): the flags, else the champion of --dataset in the config's store."""
    config = None if args.model and args.mlflow_uri else load_run_config(args.config, args.dataset)
    model_uri = args.model or f"models:/{config.registered_model_name}@{CHAMPION_ALIAS}"
    tracking_uri = args.mlflow_uri or config.tracking.mlflow_tracking_uri or default_mlflow_uri()
    store = Path(tracking_uri.removeprefix("sqlite:///"))
    if tracking_uri.startswith("sqlite:///") and not store.is_file():  # MLflow would create an empty store
        raise ConfigError(f"no MLflow store at {store}: run the distill pipeline first, or pass --mlflow-uri")
    return model_uri, tracking_uri


def predict_main(argv: list[str]) -> int:
    """`run.py predict`: batch predictions of a registered student for a Parquet node table."""
    args = parse_predict_args(argv)
    configure_environment()
    started = time.perf_counter()
    import mlflow  # after the environment is set

    from hg2m.serving import PredictError, predict_parquet

    try:
        if args.output.resolve() == args.input.resolve():
            raise ConfigError(f"--output {args.output} is the --input file: predictions would overwrite it")
        model_uri, tracking_uri = predict_target(args)
        mlflow.set_tracking_uri(tracking_uri)
        rows = predict_parquet(model_uri, args.input, args.output, args.batch_size)
    except (ConfigError, PredictError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # not the input's fault (e.g. the tracking server is down): say so, no traceback
        print(f"error: prediction failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"Predicted {rows} nodes with {model_uri}: wrote {args.output} in {time.perf_counter() - started:.1f} s")
    return 0


def parse_generate_args(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="run.py generate",
        description="Write an IGB-like synthetic heterogeneous graph (paper, author, institute, field; cites, "
        "written_by, affiliated_with, has_topic) as a snapshot folder, generated and written in chunks so that "
        "memory stays bounded. Distil on it with: run.py --pipeline distill --dataset igb --snapshot OUT",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--out", type=Path, required=True, help="snapshot folder to create (must not exist)")
    parser.add_argument("--config", type=Path, default=CONFIG_DIR / "synthetic" / "igb.yaml",
                        help="generator settings (sizes, class signal, degrees, splits)")
    parser.add_argument("--papers", type=positive_int, default=None, help="target nodes (default: the config's)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: the config's)")
    for split in ("train", "val", "test"):
        parser.add_argument(f"--{split}", type=positive_int, default=None,
                            help=f"labelled papers in the {split} split (default: the config's)")
    return parser.parse_args(argv)


def generate_main(argv: list[str]) -> int:
    """`run.py generate`: a synthetic snapshot folder, with a progress bar and a summary."""
    from tqdm import tqdm

    from hg2m.config import load_synthetic_config
    from hg2m.data.synthetic import generate_snapshot, node_counts
    from hg2m.resources import peak_rss_mb

    args = parse_generate_args(argv)
    flags = {"num_papers": args.papers, "seed": args.seed, "train": args.train, "val": args.val, "test": args.test}
    try:
        config = load_synthetic_config(args.config, {k: v for k, v in flags.items() if v is not None})
        if args.out.exists():
            raise ConfigError(f"{args.out}: already exists (refusing to overwrite a snapshot)")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    started = time.perf_counter()
    with tqdm(total=sum(node_counts(config).values()), desc="generating", unit="node", unit_scale=True,
              file=sys.stderr) as bar:
        written: dict[str, int] = {}

        def progress(node_type: str, done: int, count: int) -> None:
            bar.update(done - written.get(node_type, 0))
            written[node_type] = done

        manifest = generate_snapshot(config, args.out, progress)
    nodes = ", ".join(f"{t} {info.count:,}" for t, info in manifest.node_types.items())
    edges = ", ".join(f"{r.name} {r.num_edges:,}" for r in manifest.relations)
    print(f"Wrote {args.out} in {time.perf_counter() - started:.1f} s (peak memory {peak_rss_mb():.0f} MiB), "
          f"content hash {manifest.content_hash[:12]}.\n  nodes: {nodes}\n  edges: {edges}\n"
          f"Distil on it: ./scripts/with-env python run.py --pipeline distill --dataset igb --snapshot {args.out}")
    return 0


def parse_derive_args(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="run.py derive-inputs",
        description="Derive the inputs of NEW target nodes from their edges, for a student with one-hop neighbour "
        "inputs (docs/serving.md, 'New nodes'): writes a node table that `run.py predict --input` reads. A new node "
        "brings its edges to existing nodes (and its raw features, when the target type has any).",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--edges", type=Path, required=True,
                        help="Parquet edge list: node (int64, the new node's id), relation (a snapshot relation of "
                        "the target type), neighbour (int64, the existing node's id)")
    parser.add_argument("--nodes", type=Path, default=None,
                        help="Parquet node table with the new nodes' raw features (id, feat or feat_idx + feat_val); "
                        "needed when the target type has features")
    parser.add_argument("--output", type=Path, required=True, help="Parquet node table to write")
    parser.add_argument("--dataset", default=None, help="use the newest distill run on this dataset (default: dblp)")
    parser.add_argument("--run", default=None, help="ZenML distill run name or id (default: the dataset's newest)")
    parser.add_argument("--student", default=None, help="whose input layout (default: the run's registered student)")
    return parser.parse_args(argv)


def derive_main(argv: list[str]) -> int:
    """`run.py derive-inputs`: new nodes' input rows from their edge lists."""
    args = parse_derive_args(argv)
    configure_environment()
    from hg2m.new_nodes import new_node_inputs, read_edges, write_inputs
    from hg2m.serving import PredictError
    from pipelines.distill import find_distill_run

    try:
        if args.output.resolve() in (args.edges.resolve(), args.nodes and args.nodes.resolve()):
            raise ConfigError(f"--output {args.output} would overwrite an input")
        edges = read_edges(args.edges)
        run = find_distill_run(args.dataset or load_run_config(DISTILL_CONFIG).dataset.name, args.run)
        student = args.student or run.registration.student
        layout = run.student_inputs(student).layout
        ids, rows = new_node_inputs(layout, edges, args.nodes, run.graph().features)
        write_inputs(ids, rows, args.output)
    except (ConfigError, PredictError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Derived {len(ids)} new {layout.target_type} nodes' inputs for student {student} ({layout.kind}, "
          f"{layout.width} columns) from ZenML run {run.run.name}: wrote {args.output}. Predict with: run.py predict "
          f"--input {args.output} --output predictions.parquet")
    return 0


def benchmark_main(argv: list[str]) -> int:
    """`run.py benchmark`: benchmarks/inference.py, teacher vs student inference latency."""
    from benchmarks.inference import main as inference_benchmark

    return inference_benchmark(argv)


def parse_serve_args(argv: list[str]) -> argparse.Namespace:
    parser = ArgumentParser(
        prog="run.py serve",
        description="Serve a registered student over HTTP: MLflow's scoring server (POST /invocations, GET /ping; "
        "docs/serving.md), which refuses a request of more than --max-rows rows with 413 before reading it and "
        "answers 504 to one that takes longer than --timeout seconds.",
        formatter_class=HelpFormatter,
    )
    add_model_flags(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=positive_int, default=5001)
    parser.add_argument("--max-rows", type=positive_int, default=None,
                        help="most rows (nodes) one request may hold; larger requests get 413 (default: 100,000, "
                        "hg2m.serving.DEFAULT_MAX_ROWS)")
    parser.add_argument("--timeout", type=positive_int, default=60, help="seconds before a request gets 504")
    return parser.parse_args(argv)


def serve_main(argv: list[str]) -> int:
    """`run.py serve`: the registered student behind MLflow's scoring server, with a request row limit."""
    args = parse_serve_args(argv)
    configure_environment()
    import mlflow  # after the environment is set
    import uvicorn

    from hg2m.server import serving_app
    from hg2m.serving import DEFAULT_MAX_ROWS

    max_rows = args.max_rows or DEFAULT_MAX_ROWS
    try:
        model_uri, tracking_uri = predict_target(args)
        mlflow.set_tracking_uri(tracking_uri)
        app = serving_app(model_uri, max_rows, args.timeout)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:  # e.g. no such model version: say so, no traceback
        print(f"error: cannot serve {args.model or 'the champion'}: {type(err).__name__}: {err}", file=sys.stderr)
        return 1
    print(f"Serving {model_uri} on http://{args.host}:{args.port}/invocations: at most {max_rows:,} rows per "
          f"request, {args.timeout} s per request. Ctrl-C stops it.")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


# run.py <command> ...: each command parses its own flags; anything else is a --pipeline run.
COMMANDS = {
    "predict": (predict_main, "write a registered student's predictions for a Parquet node table"),
    "serve": (serve_main, "serve a registered student over HTTP, with a request size limit"),
    "derive-inputs": (derive_main, "derive new nodes' student inputs from their edge lists, for predict"),
    "generate": (generate_main, "write an IGB-like synthetic graph snapshot of a chosen size"),
    "benchmark": (benchmark_main, "teacher vs student inference latency on a distill run's models, logged to MLflow"),
}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]][0](argv[1:])
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
    if config.dataset.derived_metapaths:
        paths = "; ".join(f"{name} ({path.describe()})" for name, path in config.dataset.metapaths.items())
        print(f"Meta-paths derived from the graph's schema: {paths or 'none'}. To choose others, write a dataset "
              "YAML with `metapaths` and pass it as --dataset FILE.")
    for name, why in config.skipped_teachers.items():
        print(f"Teacher auto: leaving out {name}, which {why}.")
    for name, why in config.skipped_students.items():
        print(f"Leaving out student {name}, which {why}.")
    tracking_uri = config.tracking.mlflow_tracking_uri or default_mlflow_uri()
    if tracking_uri.startswith("sqlite:"):
        (PROJECT_ROOT / MLFLOW_STORE).mkdir(exist_ok=True)
    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when the launching shell ignored it
    started = datetime.utcnow()  # ZenML's run timestamps are naive UTC
    try:
        run_pipeline(args, config, tracking_uri)
    except KeyboardInterrupt:
        return interrupted(args.pipeline)
    except Terminated:
        print(f"\nterminated (SIGTERM): the {args.pipeline} pipeline stopped; a re-run reuses the steps that "
              "finished", file=sys.stderr)
        return 143
    except Exception as err:  # a failed step: say which and why, without a wall of traceback
        if user_data_error(err):  # the snapshot's fault, known before training: the message says what to fix
            print(f"error: {err}", file=sys.stderr)
            return 2
        if zenml_interruption(err):  # ZenML's own SIGINT handler ran first
            return interrupted(args.pipeline)
        from pipelines.stack import failed_step

        log, step = write_failure_log(err), failed_step(started)
        where = f" in step {step}" if step else ""
        print(f"\nerror: the {args.pipeline} pipeline failed{where}: {type(err).__name__}: {err}", file=sys.stderr)
        print(f"The failed step registered and promoted nothing. Full traceback: {log}", file=sys.stderr)
        return 1
    return 0


def interrupted(pipeline: str) -> int:
    """Ctrl-C: one line, and the shell's exit code for SIGINT."""
    print(f"\ninterrupted (Ctrl-C): the {pipeline} pipeline stopped; a re-run reuses the steps that finished",
          file=sys.stderr)
    return 130


def user_data_error(err: Exception) -> bool:
    """A snapshot that cannot be read or fails validation (the validation step has imported GE by then)."""
    from hg2m.data.snapshot import SnapshotError
    from hg2m.data.validation import SnapshotValidationError

    return isinstance(err, (SnapshotError, SnapshotValidationError))


def zenml_interruption(err: Exception) -> bool:
    """What ZenML raises from the signal handler it installs around a step (zenml is imported by then)."""
    from zenml.exceptions import RunInterruptedException

    return isinstance(err, RunInterruptedException)


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like Ctrl-C's KeyboardInterrupt (not an Exception: no handler eats it)."""


def terminate(signum: int, frame: object) -> None:
    raise Terminated()


def write_failure_log(err: BaseException) -> Path:
    """The full traceback of a failed run, in logs/ (git-ignored); returns the file's path."""
    folder = PROJECT_ROOT / FAILURE_LOGS
    folder.mkdir(exist_ok=True)
    path = folder / f"run-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    path.write_text("".join(traceback.format_exception(err)))
    return path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path


if __name__ == "__main__":
    sys.exit(main())
