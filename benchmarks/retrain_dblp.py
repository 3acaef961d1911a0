"""Benchmark and demo: scheduled retraining on a growing DBLP, three snapshots arriving one by one.

    ./scripts/with-env python -m benchmarks.retrain_dblp [--fractions 0.6 0.8 1.0] [--margin 0.005]

Writes DBLP as it was with 60%, 80% and 100% of every node type (ids kept, so each snapshot extends the
previous one) and, after each arrives, runs the retrain pipeline exactly as `run.py --pipeline retrain`
does. A final retrain with nothing new shows the no-op. Quick training settings to keep it to minutes:
RGCN teacher, students mlp, hg2m and hg2m_plus, seed 0, transductive. Throw-away ZenML and MLflow stores.
Prints, per snapshot, its size, the challenger's and champion's test Micro-F1, the decision and the time.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

QUICK = {"evaluation.seeds": [0], "evaluation.settings": ["transductive"], "device": "cpu"}
STUDENTS = ("mlp", "hg2m", "hg2m_plus")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.6, 0.8, 1.0])
    parser.add_argument("--margin", type=float, default=0.005)
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="hg2m-retrain-"))
    from hg2m.environment import use_private_stores

    use_private_stores(home)
    from hg2m.config import CONFIG_DIR, load_run_config
    from hg2m.data.growth import snapshot_sequence, write_sequence
    from hg2m.data.raw import load_raw_dataset
    from pipelines.retrain import run_retrain

    distill = CONFIG_DIR / "pipelines" / "distill.yaml"

    def config_for(folder: Path):
        config = load_run_config(distill, "dblp", {**QUICK, "promotion.margin": args.margin}, snapshot=folder)
        return config.model_copy(update={"students": [s for s in config.students if s.name in STUDENTS]})

    full = load_raw_dataset(load_run_config(distill, "dblp").dataset)
    staged = write_sequence(snapshot_sequence(full, args.fractions), home / "staging", "dblp")
    inbox, uri = home / "inbox", f"sqlite:///{home / 'mlflow.db'}"
    inbox.mkdir()
    rows = []
    for folder in [*staged, None]:
        if folder is not None:
            shutil.copytree(folder, inbox / folder.name)
        started = time.perf_counter()
        outcome = run_retrain(inbox, config_for, uri, home / "retrain.lock", home / "artifacts")
        rows.append((outcome, time.perf_counter() - started))

    print(f"\nRetraining on a growing DBLP, margin {args.margin}, students {', '.join(STUDENTS)}, seed 0:\n")
    print("| snapshot | authors (train/val/test) | edges | challenger | champion before | decision | wall time |")
    print("|---|---|---|---|---|---|---|")
    for outcome, seconds in rows:
        snapshot = load_raw_dataset(outcome.config.dataset)
        nodes = snapshot.manifest.node_types["author"].count
        edges = sum(r.num_edges for r in snapshot.manifest.relations)
        if outcome.distill is None:
            print(f"| {outcome.snapshot.name} (again) | {nodes} | {edges} | – | – | nothing new: no-op | {seconds:.1f} s |")
            continue
        d = outcome.distill.gate_decision
        counts = _split_counts(snapshot)
        champion = "none" if d.champion_score is None else f"v{d.champion_version}: {100 * d.champion_score:.2f}"
        decision = "promoted" if d.promote else "kept champion"
        print(f"| {outcome.snapshot.name} | {nodes} ({counts}) | {edges} | v{d.challenger_version}: "
              f"{100 * d.challenger_score:.2f} | {champion} | {decision} | {seconds:.1f} s |")


def _split_counts(snapshot) -> str:
    split = snapshot.target_table().column("split").to_pylist()
    return "/".join(str(split.count(name)) for name in ("train", "val", "test"))


if __name__ == "__main__":
    main()
