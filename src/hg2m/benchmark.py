"""Inference latency of a teacher HGNN and its MLP student on the same target nodes, side by side.

The teacher's time for a batch covers what serving it would cost: sampling the batch's neighbourhood
(`fanouts` per relation and layer), fetching the input features of every sampled node, and the
forward pass. The student's time covers fetching the batch's own feature rows and the MLP. Each batch
size is timed over `repeats` different random batches of test nodes after `warmup` untimed ones; the
table reports medians.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import dgl
import pandas as pd
import torch
from torch import nn

from hg2m.data.graph import HeteroGraphData
from hg2m.models import Teacher
from hg2m.student_inputs import ExistingNodeInputs, InputLayout
from hg2m.teacher import sample_batch

ALL = "all"  # batch size meaning every test node in one batch


@dataclass(frozen=True)
class BenchmarkSetup:
    batch_sizes: list[int | str]  # ints, or ALL
    repeats: int
    warmup: int
    fanouts: list[int]
    seed: int = 0


def parse_batch_size(text: str) -> int | str:
    """'256' -> 256, 'all' -> ALL; anything else is a ValueError naming the value."""
    if text == ALL:
        return ALL
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"batch size {text!r}: expected a positive integer or '{ALL}'")
    return int(text)


class Timer:
    """Wall-clock seconds of a call; waits for queued GPU work so that the time is the real one."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"

    def __call__(self, fn: Callable[[], object]) -> tuple[float, object]:
        self._sync()
        start = time.perf_counter()
        result = fn()
        self._sync()
        return time.perf_counter() - start, result

    def _sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()


class TeacherRunner:
    """One teacher batch: sample blocks, fetch features, forward. Times sampling and the rest apart."""

    def __init__(self, teacher: Teacher, data: HeteroGraphData, fanouts: list[int], device: torch.device):
        self.teacher = teacher.to(device).eval()
        self.graph = teacher.graph_view(data.graph).to(device)
        self.features = {t: f.to(device) for t, f in data.features.items()}
        self.sampler = dgl.dataloading.NeighborSampler(fanouts)
        self.timer = Timer(device)

    def __call__(self, seeds: torch.Tensor) -> tuple[float, float, torch.Tensor]:
        """(sampling seconds, total seconds, logits) for `seeds` (target ids on the device)."""
        sampling, (input_ids, blocks) = self.timer(lambda: sample_batch(self.teacher, self.graph, self.sampler, seeds))
        forward, logits = self.timer(lambda: self.teacher(blocks, self.features, input_ids).logits)
        return sampling, sampling + forward, logits


class StudentRunner:
    """One student batch: fetch the batch's own feature rows and, for neighbour inputs, look up each node's edges
    and gather and average its neighbours' rows (hg2m.student_inputs.derive_inputs); then run the MLP."""

    def __init__(self, student: nn.Module, layout: InputLayout, data: HeteroGraphData, device: torch.device):
        self.student = student.to(device).eval()
        own = data.target_features().to(device) if layout.own_dim else None
        self.inputs = ExistingNodeInputs(layout, data.graph, own, data.features)
        self.device = device
        self.timer = Timer(device)

    def __call__(self, seeds: torch.Tensor) -> tuple[float, torch.Tensor]:
        return self.timer(lambda: self.student(self.inputs(seeds).to(self.device)))


def benchmark_inference(
    teacher: Teacher, student: nn.Module, layout: InputLayout, data: HeteroGraphData, setup: BenchmarkSetup,
    device: torch.device,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """(one row per batch size: median latencies, throughputs, speedup; test accuracy of both models).

    Accuracy is measured on every test node through the same timed code paths (the teacher with
    sampled neighbourhoods, as it would serve)."""
    test = data.splits["test"].to(device)
    run_teacher, run_student = TeacherRunner(teacher, data, setup.fanouts, device), StudentRunner(student, layout, data, device)
    generator = torch.Generator().manual_seed(setup.seed)
    rows = []
    with torch.no_grad():
        for size in setup.batch_sizes:
            count = len(test) if size == ALL else min(int(size), len(test))
            batches = [test[torch.randperm(len(test), generator=generator)[:count].to(device)]
                       for _ in range(setup.warmup + setup.repeats)]
            for seeds in batches[: setup.warmup]:
                run_teacher(seeds)
                run_student(seeds)
            teacher_runs = [run_teacher(seeds)[:2] for seeds in batches[setup.warmup :]]
            student_runs = [run_student(seeds)[0] for seeds in batches[setup.warmup :]]
            rows.append(latency_row(size, count, teacher_runs, student_runs))
        accuracy = {
            "teacher_test_accuracy": accuracy_of(run_teacher(test)[2], data, test),
            "student_test_accuracy": accuracy_of(run_student(test)[1], data, test),
        }
    return pd.DataFrame(rows), accuracy


def latency_row(size: int | str, count: int, teacher: list[tuple[float, float]], student: list[float]) -> dict:
    teacher_s = statistics.median(total for _, total in teacher)
    sampling_s = statistics.median(sampling for sampling, _ in teacher)
    student_s = statistics.median(student)
    return {
        "batch_size": str(size), "nodes": count,
        "teacher_ms": 1e3 * teacher_s, "teacher_sampling_ms": 1e3 * sampling_s, "student_ms": 1e3 * student_s,
        "teacher_nodes_per_s": count / teacher_s, "student_nodes_per_s": count / student_s,
        "speedup": teacher_s / student_s,
    }


def accuracy_of(logits: torch.Tensor, data: HeteroGraphData, nodes: torch.Tensor) -> float:
    return float((logits.argmax(-1).cpu() == data.labels[nodes.cpu()]).float().mean())


def metric_name(column: str, batch_size: str) -> str:
    """MLflow metric key for one cell, e.g. teacher_ms_b256, speedup_ball."""
    return f"{column}_b{batch_size}"
