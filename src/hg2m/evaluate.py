"""Classification metrics and the comparison table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from hg2m.config import INDUCTIVE
from hg2m.data.graph import HeteroGraphData
from hg2m.labels import is_multi_label, predict

METRICS = ("accuracy", "macro_f1", "micro_f1")
SELECTION_METRIC = "micro_f1"  # what validation scores are read in: epochs, teachers and students are chosen by it
TEACHER, TEACHER_CANDIDATE = "teacher", "teacher_candidate"  # the `method` of teacher rows in the results


def candidate_model(teacher_name: str) -> str:
    """The results' model name of a candidate teacher under `teacher: auto` (apart from the chosen teacher's rows)."""
    return f"candidate_{teacher_name}"


def teacher_name(results: pd.DataFrame) -> str:
    """The teacher the students learnt from (under `teacher: auto`, the chosen candidate)."""
    return results.loc[results["method"] == TEACHER, "model"].iloc[0]


def student_rows(results: pd.DataFrame) -> pd.DataFrame:
    return results[~results["method"].isin((TEACHER, TEACHER_CANDIDATE))]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class."""
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2).reshape(num_classes, num_classes)


def classification_metrics(y_true, y_pred, num_classes: int) -> dict[str, float]:
    """Accuracy, Macro-F1 (mean of per-class F1) and Micro-F1 (= accuracy for single-label). Single-label: (n,)
    classes; multi-label: (n, C) 0/1 indicators, scored as HGB scores IMDB (F1 over every node-class decision;
    accuracy: the whole set right)."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    if len(y_true) == 0:
        raise ValueError("cannot score an empty set of nodes")
    if y_true.ndim == 2:
        tp = (y_true & y_pred).sum(axis=0).astype(float)
        predicted, actual = y_pred.sum(axis=0), y_true.sum(axis=0)
        accuracy = float((y_true == y_pred).all(axis=1).mean())
    else:
        cm = confusion_matrix(y_true, y_pred, num_classes)
        tp = np.diag(cm).astype(float)
        predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
        accuracy = float(tp.sum() / len(y_true))
    denom = predicted + actual
    per_class_f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    micro = 2 * tp.sum() / max(predicted.sum() + actual.sum(), 1)
    return {"accuracy": accuracy, "macro_f1": float(per_class_f1.mean()), "micro_f1": float(micro)}


def score_logits(logits: torch.Tensor, labels: torch.Tensor, idx: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Metrics of the predictions (hg2m.labels.predict) on the nodes `idx`."""
    pred = predict(logits[idx], is_multi_label(labels)).cpu().numpy()
    return classification_metrics(labels[idx].cpu().numpy(), pred, num_classes)


def split_metrics(logits: torch.Tensor, data: HeteroGraphData) -> dict[str, dict[str, float]]:
    """Metrics of (N, C) logits on each of the data's splits."""
    return {name: score_logits(logits, data.labels, idx, data.num_classes) for name, idx in data.splits.items()}


def score_parts(logits: torch.Tensor, labels: torch.Tensor, parts: dict[str, torch.Tensor], num_classes: int,
                held_out_fraction: float) -> dict[str, dict[str, float]]:
    """Metrics per node set; with a held-out part also `production` = (1-f) observed + f held-out (GLNN)."""
    scores = {name: score_logits(logits, labels, idx, num_classes) for name, idx in parts.items() if len(idx)}
    if "test_held_out" in scores and "test_observed" in scores:
        f = held_out_fraction
        scores["production"] = {m: (1 - f) * scores["test_observed"][m] + f * scores["test_held_out"][m] for m in METRICS}
    return scores


def result_rows(model: str, method: str, setting: str, seed: int, scores: dict[str, dict[str, float]]) -> list[dict]:
    return [{"model": model, "method": method, "setting": setting, "seed": seed, "part": part, **metrics}
            for part, metrics in scores.items()]


def summary_table(results: pd.DataFrame) -> pd.DataFrame:
    """Long results (one row per model, setting, seed, part) -> mean and std over seeds per model, setting, part."""
    grouped = results.groupby(["model", "method", "setting", "part"], sort=False)[list(METRICS)]
    summary = grouped.agg(["mean", "std"])
    summary.columns = [f"{metric}_{stat}" for metric, stat in summary.columns]
    summary = summary.fillna(0.0)  # one seed: std is undefined, report 0
    summary.insert(0, "seeds", grouped.size())
    return summary.reset_index()


# two-sided 95% quantiles of Student's t by degrees of freedom (seeds - 1); beyond the table, the normal's
T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         14: 2.145, 19: 2.093, 29: 2.045}


def mean_interval(values: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (0 for a single value)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), 0.0
    dof = len(values) - 1
    t = T_975.get(dof) or next((T_975[d] for d in sorted(T_975, reverse=True) if d <= dof), 1.96)
    return float(values.mean()), float(t * values.std(ddof=1) / np.sqrt(len(values)))


def paired_difference(results: pd.DataFrame, model: str, baseline: str, setting: str, part: str,
                      metric: str = SELECTION_METRIC) -> tuple[float, float]:
    """Mean over seeds of `model` minus `baseline` (same seed, setting and part), with its 95% half-width."""
    rows = results[(results["setting"] == setting) & (results["part"] == part)]
    scores = rows.pivot_table(index="seed", columns="model", values=metric)
    return mean_interval((scores[model] - scores[baseline]).dropna().tolist())


def select_best(results: pd.DataFrame, setting: str, held_out_fraction: float) -> tuple[str, int]:
    """(student, seed): the student with the best selection score (selection_scores), and its best seed in
    `setting` by validation Micro-F1."""
    students = student_rows(results)
    best = selection_scores(students, setting, held_out_fraction).idxmax()
    runs = students[(students["model"] == best) & (students["part"] == "val") & (students["setting"] == setting)]
    return best, int(runs.loc[runs[SELECTION_METRIC].idxmax(), "seed"])


def mean_val_scores(results: pd.DataFrame, setting: str, part: str = "val") -> pd.Series:
    """Mean validation Micro-F1 over seeds of every model (teacher included) in `setting`, by model name."""
    val = results[(results["part"] == part) & (results["setting"] == setting)]
    return val.groupby("model", sort=False)[SELECTION_METRIC].mean()


def selection_scores(results: pd.DataFrame, setting: str, held_out_fraction: float) -> pd.Series:
    """Mean validation Micro-F1 in `setting`; when the inductive setting ran, GLNN's production mix instead:
    (1 - f) of it and f of the mean held-out validation score. A served model meets new nodes too, and on the
    observed nodes alone every distilled student scores by how well it copies the teacher."""
    scores = mean_val_scores(results, setting)
    held_out = mean_val_scores(results, INDUCTIVE, "val_held_out")
    if held_out.empty:
        return scores
    return (1 - held_out_fraction) * scores + held_out_fraction * held_out.reindex(scores.index)


def selection_rule(results: pd.DataFrame, setting: str, held_out_fraction: float) -> str:
    """What selection_scores computes on these results, in words."""
    if mean_val_scores(results, INDUCTIVE, "val_held_out").empty:
        return f"mean validation {SELECTION_METRIC} in {setting}"
    return (f"{1 - held_out_fraction:g} x mean validation {SELECTION_METRIC} in {setting} + {held_out_fraction:g} x "
            f"mean held-out validation {SELECTION_METRIC} in {INDUCTIVE}")


def selection_reason(results: pd.DataFrame, setting: str, chosen: str, held_out_fraction: float) -> str:
    """Why `chosen` was registered, with the teacher's and the plain MLP's scores beside it."""
    scores = selection_scores(results, setting, held_out_fraction)
    kinds = results.drop_duplicates("model").set_index("model")["method"]
    labels = {model: f"teacher {model}" if kind == TEACHER else "plain MLP" if model == "mlp" else f"plain MLP {model}"
              for model, kind in kinds.items() if kind in (TEACHER, "mlp") and model != chosen}
    others = ", ".join(f"{label} {scores[model]:.4f}" for model, label in labels.items())
    students = student_rows(results)["model"].nunique()
    rule = selection_rule(results, setting, held_out_fraction)
    return f"{chosen}: the best of {students} students by {rule} ({scores[chosen]:.4f}); {others}"


def select_teacher(val_scores: dict[str, float]) -> tuple[str, str]:
    """(chosen, reason): the candidate teacher with the best validation score; a tie goes to the earlier one."""
    chosen = max(val_scores, key=val_scores.get)  # max keeps the first of equal scores
    others = ", ".join(f"{name} {score:.4f}" for name, score in val_scores.items() if name != chosen)
    return chosen, f"{chosen}: best validation {SELECTION_METRIC} of {len(val_scores)} teachers " \
                   f"({val_scores[chosen]:.4f}); {others}"


def teacher_warnings(results: pd.DataFrame) -> list[str]:
    """One line per setting where the teacher's mean validation score is below the plain MLP's: its soft labels
    then teach the students less than the labels alone do."""
    kinds = results.drop_duplicates("model").set_index("model")["method"]
    teachers, mlps = kinds[kinds == TEACHER].index, kinds[kinds == "mlp"].index
    lines = []
    for setting in results["setting"].unique():
        scores = mean_val_scores(results, setting)
        for teacher in teachers:
            for mlp in mlps:
                if scores[teacher] < scores[mlp]:
                    lines.append(f"teacher {teacher} is below the plain MLP {mlp} on validation in {setting} "
                                 f"({scores[teacher]:.4f} < {scores[mlp]:.4f} mean {SELECTION_METRIC}): its students "
                                 "learn from a weak teacher; try another --teacher")
    return lines


REPORTED_PARTS = ("test", "test_observed", "test_held_out", "production")


def display_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Test-side rows with 'mean ± std' in percent, for the terminal and the README."""
    shown = summary[summary["part"].isin(REPORTED_PARTS)]
    # an inductive run's whole test set mixes observed and held-out nodes: its parts are shown instead
    shown = shown[~((shown["setting"] == INDUCTIVE) & (shown["part"] == "test"))]
    table = shown[["model", "setting", "part", "seeds"]].copy()
    for metric in METRICS:
        table[metric] = [f"{100 * m:.2f} ± {100 * s:.2f}" for m, s in zip(shown[f"{metric}_mean"], shown[f"{metric}_std"])]
    return table.reset_index(drop=True)


def markdown_table(frame: pd.DataFrame, digits: int = 4) -> str:
    """A GitHub Markdown table (no extra dependency)."""
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])
