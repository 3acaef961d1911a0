"""Benchmark: one student under other settings, to tell a diverging run from a bad model.

    ./scripts/with-env python -m benchmarks.student_variants --dataset hgb_acm --teacher simplehgn --seeds 0 1 \
        --variants default lr=0.001 lr=0.003 norm=layer norm=batch

Transductive, no ZenML or MLflow: per seed the teacher is trained once (hg2m.teacher.train_teacher_for_run) and the
student (default `hg2m_nb`) once per variant, each a `key=value` list joined by ',' (`lr`, `weight_decay`: the
optimiser; `norm`, `dropout`, `hidden_dim`: the MLP). Prints the teacher's logit spread and test accuracy, and per
variant the student's test accuracy, its chosen and last epoch, and the largest training loss after epoch 5 (a
loss far above the first epochs' is a diverged run). Also `max_epochs`, `patience`, `early_stopping` (the optimiser's
stopping) and `temperature`, `lambda_ce` (the distillation loss).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import time

OPTIM_KEYS = {"lr": float, "weight_decay": float, "max_epochs": int, "patience": int,
              "early_stopping": lambda value: value.lower() in ("1", "true", "yes")}
MODEL_KEYS = {"norm": str, "dropout": float, "hidden_dim": int, "temperature": float, "lambda_ce": float}


def parse_variant(text: str) -> tuple[dict, dict]:
    """'lr=0.001,norm=batch' -> ({'lr': 0.001}, {'norm': 'batch'}); 'default' -> ({}, {})."""
    optim, model = {}, {}
    for item in filter(None, text.split(",")):
        key, _, value = item.partition("=")
        if key == "default":
            continue
        if key in OPTIM_KEYS:
            optim[key] = OPTIM_KEYS[key](value)
        elif key in MODEL_KEYS:
            model[key] = MODEL_KEYS[key](value)
        else:
            raise SystemExit(f"error: --variants: unknown key {key!r} (known: {sorted(OPTIM_KEYS | MODEL_KEYS)})")
    return optim, model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--teacher", required=True)
    parser.add_argument("--student", default="hg2m_nb")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=["default"])
    args = parser.parse_args()
    variants = {text: parse_variant(text) for text in args.variants}

    import torch

    from hg2m.config import CONFIG_DIR, load_run_config
    from hg2m.contracts import InputMatrix, RunSplit
    from hg2m.data.graph import build_graph_data
    from hg2m.data.raw import load_raw_dataset
    from hg2m.data.transforms import apply_transforms, fit_transforms
    from hg2m.distill.signals import build_signals
    from hg2m.plan import Run, plan_run
    from hg2m.student import train_student
    from hg2m.student_inputs import build_inputs, input_layout
    from hg2m.teacher import teacher_run, train_teacher_for_run

    config, plan = plan_run(load_run_config(CONFIG_DIR / "pipelines" / "distill.yaml", args.dataset,
                                            teacher=args.teacher))
    student = plan.student(args.student)
    raw = build_graph_data(load_raw_dataset(config.dataset), config.graph)
    data = dataclasses.replace(raw, features=apply_transforms(raw.features, fit_transforms(raw.features)))
    layout = input_layout(data, student.inputs, max_bag_ids=config.student_inputs.max_bag_ids)
    inputs = InputMatrix(layout=layout, matrix=build_inputs(data, layout))
    cpu = torch.device("cpu")
    print(f"{args.dataset}, teacher {args.teacher}, student {args.student} ({layout.width} input columns); "
          f"{platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, CPU", flush=True)
    for seed in args.seeds:
        split = RunSplit(run=Run(setting="transductive", seed=seed), num_nodes=data.num_target_nodes, hidden=[])
        teacher = train_teacher_for_run(data, split, config.teachers[0], config.graph, cpu,
                                        metapaths=config.dataset.metapaths)
        signals_from = teacher_run(teacher.model, data, split, teacher.logits, with_embeddings=False)
        top = torch.softmax(teacher.logits, -1).max(-1).values.mean()
        print(f"seed {seed}: teacher test {100 * teacher.metrics['test']['accuracy']:.2f}, logit std "
              f"{teacher.logits.std():.2f}, mean top probability {top:.3f}", flush=True)
        rows = inputs.for_split(data, split)
        for text, (optim, model) in variants.items():
            config_ = student.config.model_copy(update={"optim": student.config.optim.model_copy(update=optim),
                                                        **model})
            variant = student.model_copy(update={"config": config_})
            started = time.perf_counter()
            trained = train_student(data, rows, build_signals(data, rows, variant, split, teacher=signals_from),
                                    variant, seed, cpu)
            history = trained.fit.history
            print(f"  {text}: test {100 * trained.metrics['test']['accuracy']:.2f}, epoch "
                  f"{trained.fit.best_epoch}/{trained.fit.epochs_run}, loss: first {history[0]['loss']:.3f}, "
                  f"largest after epoch 5 {max((r['loss'] for r in history[5:]), default=float('nan')):.3f}, "
                  f"last {history[-1]['loss']:.4f} ({time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
