"""Start and stop DistDGL's processes: one graph server per partition and the trainers, as DGL's `tools/launch.py`
starts them (the same DGL_* environment; PyTorch's env:// rendezvous for DDP), here as local processes.

On one host every "machine" is 127.0.0.1 on its own port. Each process is the leader of its own process group, so
that stopping it stops whatever it started; every process is stopped when any trainer fails, when the wait times
out, and when the caller is interrupted, and the ports are free again once `run_cluster` returns. If the caller is
killed outright, the kernel ends its workers too (die_with_parent).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

LOCALHOST = "127.0.0.1"
WORKER_MODULE = "hg2m.distributed.worker"
POLL_SECONDS = 0.2
SERVER_EXIT_SECONDS = 30  # servers end by themselves once every trainer has said goodbye
PR_SET_PDEATHSIG = 1  # prctl option (linux/prctl.h)
PEAK_SUFFIX = ".peak_mib"  # <process name>.peak_mib: each process's peak resident memory, written as it ends


class DistributedError(RuntimeError):
    """A distributed job failed: the message names the process and ends with the tail of its log."""


@dataclass(frozen=True)
class ClusterSpec:
    """One machine per partition, each with one graph server and `trainers_per_part` trainers."""

    num_parts: int
    trainers_per_part: int
    part_config: Path  # the partition book `<graph_name>.json`
    job_dir: Path  # the job file, the processes' logs and their outputs

    @property
    def num_trainers(self) -> int:
        return self.num_parts * self.trainers_per_part


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return sock.getsockname()[1]


def write_ip_config(path: Path, num_machines: int) -> None:
    """DGL's ip_config: one `ip port` line per machine (here all on this host)."""
    path.write_text("".join(f"{LOCALHOST} {free_port()}\n" for _ in range(num_machines)))


def dgl_env(spec: ClusterSpec, ip_config: Path) -> dict[str, str]:
    """What DGL's launch.py sets for servers and trainers alike (DGL reads it in dgl.distributed.initialize)."""
    return {"DGL_NUM_SERVER": "1", "DGL_NUM_SAMPLER": "0", "DGL_NUM_CLIENT": str(spec.num_trainers),
            "DGL_CONF_PATH": str(spec.part_config), "DGL_IP_CONFIG": str(ip_config), "DGL_GRAPH_FORMAT": "csc,coo"}


def server_env(spec: ClusterSpec, ip_config: Path, server_id: int) -> dict[str, str]:
    return {**dgl_env(spec, ip_config), "DGL_ROLE": "server", "DGL_SERVER_ID": str(server_id), "OMP_NUM_THREADS": "1"}


def trainer_env(spec: ClusterSpec, ip_config: Path, rank: int, master_port: int) -> dict[str, str]:
    """DGL's trainer variables, and what torch.distributed.run sets for a trainer."""
    return {**dgl_env(spec, ip_config), "DGL_ROLE": "client", "DGL_DIST_MODE": "distributed", "DGL_GROUP_ID": "0",
            "MASTER_ADDR": LOCALHOST, "MASTER_PORT": str(master_port), "RANK": str(rank),
            "WORLD_SIZE": str(spec.num_trainers), "LOCAL_RANK": str(rank % spec.trainers_per_part),
            "HG2M_MACHINE": str(rank // spec.trainers_per_part),
            "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // spec.num_trainers))}


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        return "\n".join(line for line in text[-lines:])


def die_with_parent() -> None:
    """In the child, before it runs: the kernel kills it when the process that started it dies, even by SIGKILL,
    which no `finally` sees (Linux; elsewhere a no-op)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def start(name: str, env: dict[str, str], job_dir: Path) -> Process:
    log = job_dir / f"{name}.log"
    with log.open("w") as out:
        popen = subprocess.Popen([sys.executable, "-m", WORKER_MODULE, str(job_dir)],
                                 env={**os.environ, **env, "HG2M_PROCESS": name}, stdout=out,
                                 stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
    return Process(name, popen, log)


def stop(processes: list[Process]) -> None:
    """SIGTERM to each process group, SIGKILL to what is left after a grace period; waits for every process."""
    for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        alive = [p for p in processes if p.popen.poll() is None]
        for process in alive:
            try:
                os.killpg(process.popen.pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while any(p.popen.poll() is None for p in alive) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    for process in processes:
        process.popen.wait()


def run_cluster(spec: ClusterSpec, timeout_s: float, on_poll: Callable[[], None] | None = None) -> dict[str, float]:
    """Start the servers, then the trainers; return when every trainer has exited with 0, with each process's peak
    resident memory in MiB (`server0`, `trainer0`, ...). A trainer that fails (or is killed) stops the others and
    raises DistributedError with its log's tail."""
    ip_config = spec.job_dir / "ip_config.txt"
    write_ip_config(ip_config, spec.num_parts)
    servers = [start(f"server{i}", server_env(spec, ip_config, i), spec.job_dir) for i in range(spec.num_parts)]
    master_port = free_port()
    trainers = [start(f"trainer{rank}", trainer_env(spec, ip_config, rank, master_port), spec.job_dir)
                for rank in range(spec.num_trainers)]
    everything = servers + trainers
    try:
        wait_for_trainers(trainers, servers, time.monotonic() + timeout_s, on_poll)
        deadline = time.monotonic() + SERVER_EXIT_SECONDS
        while any(s.popen.poll() is None for s in servers) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
    finally:
        stop(everything)
    return peaks(everything, spec.job_dir)


def run_data_parallel(job_dir: Path, num_ranks: int, timeout_s: float,
                      on_poll: Callable[[], None] | None = None) -> dict[str, float]:
    """`num_ranks` processes of a PyTorch job (no graph servers: HG2M_JOB=students), with what torch.distributed.run
    sets for each; stopped and reported as run_cluster's trainers (`rank0`, `rank1`, ...)."""
    master_port = free_port()
    threads = str(max(1, (os.cpu_count() or 1) // num_ranks))
    ranks = [start(f"rank{rank}", {"HG2M_JOB": "students", "MASTER_ADDR": LOCALHOST, "MASTER_PORT": str(master_port),
                                   "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(num_ranks),
                                   "OMP_NUM_THREADS": threads}, job_dir)
             for rank in range(num_ranks)]
    try:
        wait_for_trainers(ranks, [], time.monotonic() + timeout_s, on_poll)
    finally:
        stop(ranks)
    return peaks(ranks, job_dir)


def peaks(processes: list[Process], job_dir: Path) -> dict[str, float]:
    """Each process's peak resident memory in MiB, as it wrote it when it ended."""
    return {p.name: float(path.read_text()) for p in processes if (path := job_dir / f"{p.name}{PEAK_SUFFIX}").exists()}


def wait_for_trainers(trainers: list[Process], servers: list[Process], deadline: float,
                      on_poll: Callable[[], None] | None) -> None:
    while True:
        if on_poll:
            on_poll()
        failed = [p for p in trainers + servers if p.popen.poll() not in (None, 0)]
        if failed:
            first = failed[0]
            raise DistributedError(f"distributed {first.name} exited with code {first.popen.returncode} (log "
                                   f"{first.log}); every other process was stopped. Its last lines:\n{first.tail()}")
        if all(p.popen.poll() == 0 for p in trainers):
            return
        if time.monotonic() > deadline:
            raise DistributedError(f"distributed training did not finish in time (logs in {trainers[0].log.parent}); "
                                   "every process was stopped")
        time.sleep(POLL_SECONDS)
