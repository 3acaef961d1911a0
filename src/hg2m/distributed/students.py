"""A student trained data-parallel: `num_ranks` processes on this host, PyTorch DDP (gloo on the CPU, NCCL on GPUs).

Every rank loads the same job (graph, student inputs, teacher signals, plan, seed), walks the same batches in the same
order and takes its slice of each; DDP adds up the slices' gradients, so the updates are those of one process on the
whole batch (hg2m.student.fit_student). Rank 0 writes the weights; the launching process scores every target node
with them, as after single-process training, and nothing downstream can tell the difference.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from hg2m.data.graph import HeteroGraphData
from hg2m.distill.signals import TeacherSignals
from hg2m.distributed.cluster import DistributedError, run_data_parallel
from hg2m.distributed.progress import ProgressReader, progress_writer
from hg2m.plan import StudentPlan
from hg2m.student import build_student, fit_student, scored
from hg2m.train import EpochCallback, FitResult, TrainedModel

JOB_FILE, MODEL_FILE = "student_job.pt", "student.pt"


@dataclass(frozen=True)
class StudentJob:
    """What every rank reads from the job folder: train_student's arguments."""

    data: HeteroGraphData
    inputs: torch.Tensor
    signals: TeacherSignals
    plan: StudentPlan
    seed: int
    device: str  # "cpu" or "cuda" (each rank then takes the GPU of its local rank)


def train_student_data_parallel(
    data: HeteroGraphData, inputs: torch.Tensor, signals: TeacherSignals, plan: StudentPlan, seed: int,
    device: torch.device, num_ranks: int, timeout_s: float = 24 * 3600, on_epoch: EpochCallback | None = None,
) -> tuple[TrainedModel, dict[str, float]]:
    """hg2m.student.train_student on `num_ranks` processes; also returns each rank's peak resident memory in MiB
    (`rank0`, ...). A failed rank stops the others and raises DistributedError; its job folder (logs) stays."""
    job_dir = Path(tempfile.mkdtemp(prefix="hg2m-students-"))
    try:
        torch.save(StudentJob(data, inputs, signals, plan, seed, device.type), job_dir / JOB_FILE)
        progress = ProgressReader(job_dir, on_epoch)
        peak_mib = run_data_parallel(job_dir, num_ranks, timeout_s, on_poll=progress.poll)
        progress.poll()
        saved = torch.load(job_dir / MODEL_FILE)
    except DistributedError:
        raise
    except BaseException:  # e.g. an Optuna pruner stopping a trial from its epoch callback: no logs worth keeping
        shutil.rmtree(job_dir, ignore_errors=True)
        raise
    shutil.rmtree(job_dir, ignore_errors=True)
    student = build_student(plan.config, inputs.shape[1], data.num_classes)
    student.load_state_dict(saved["state_dict"])
    return scored(student, FitResult(**saved["fit"]), inputs, data), peak_mib


def run_rank(job_dir: Path) -> None:
    """One rank (a process started by hg2m.distributed.cluster.run_data_parallel): join the group, train, and on
    rank 0 write the weights."""
    job: StudentJob = torch.load(job_dir / JOB_FILE)
    on_gpu = job.device == "cuda"
    if on_gpu:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    torch.distributed.init_process_group("nccl" if on_gpu else "gloo")
    rank = torch.distributed.get_rank()
    device = torch.device("cuda", torch.cuda.current_device()) if on_gpu else torch.device("cpu")
    student, result = fit_student(job.data, job.inputs, job.signals, job.plan, job.seed, device,
                                  progress_writer(job_dir, rank))
    if rank == 0:
        torch.save({"state_dict": student.cpu().state_dict(), "fit": dataclasses.asdict(result)}, job_dir / MODEL_FILE)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()
