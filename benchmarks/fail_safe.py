"""Benchmark: replay the fail-safe cases (issue 14) against `run.py` as a user or cron would meet them, and print
a table of case -> expected -> observed.

    ./scripts/with-env python -m benchmarks.fail_safe

Every case runs `run.py` in a subprocess on throw-away ZenML and MLflow stores (your project stores are not
touched; failure logs go to the project's logs/). User errors must exit 2 with one line before any training;
interrupted runs 130 / 143 with one line; a SIGKILLed run's open runs are closed by the next start; a re-run
with --no-cache registers no duplicate; a snapshot written with pandas' default types is accepted; retraining
on an unreadable newest snapshot fails naming it; the server refuses an oversized request with 413 and
answers the next one. The full runs train RGCN and two students for 2 epochs on a 2,000-paper generated graph.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from hg2m.server import answers

ROOT = Path(__file__).resolve().parents[1]
QUICK = ["--teacher", "rgcn", "--students", "mlp", "hg2m", "--epochs", "2", "--seeds", "0", "--settings",
         "transductive", "--device", "cpu"]


@dataclass
class Outcome:
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def error_lines(self) -> list[str]:
        """stderr without progress bars and blank lines: what a user reads."""
        lines = (line for chunk in self.stderr.split("\n") for line in chunk.split("\r"))
        return [line for line in lines if line.strip() and "ep/s" not in line and "s/ep" not in line
                and not re.search(r"\d+%\|", line)]


class Replay:
    def __init__(self, home: Path):
        self.home = home
        self.mlflow_uri = f"sqlite:///{home / 'mlflow.db'}"
        self.env = {**os.environ, "ZENML_CONFIG_PATH": str(home / "zenml"), "ZENML_REPOSITORY_PATH": str(home)}
        (home / ".zen").mkdir(parents=True, exist_ok=True)
        self.rows: list[tuple[str, str, str, bool]] = []

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(ROOT / "run.py"), *args]

    def run(self, *args: str, timeout: int = 900) -> Outcome:
        started = time.perf_counter()
        done = subprocess.run(self.command(*args), env=self.env, capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT)
        return Outcome(done.returncode, done.stdout, done.stderr, time.perf_counter() - started)

    def interrupted(self, sig: signal.Signals, *args: str) -> Outcome:
        """Start a run, send `sig` once the teacher trains, and wait for the process to end."""
        log = self.home / f"interrupted-{sig.name}.log"
        started = time.perf_counter()
        with open(log, "w") as err:
            process = subprocess.Popen(self.command(*args), env=self.env, stdout=subprocess.PIPE, stderr=err,
                                       text=True, cwd=ROOT)
            while "teacher rgcn" not in log.read_text() and process.poll() is None:
                time.sleep(0.2)
            process.send_signal(sig)
            stdout, _ = process.communicate(timeout=300)
        return Outcome(process.returncode, stdout, log.read_text(), time.perf_counter() - started)

    def record(self, case: str, expected: str, observed: str, ok: bool) -> None:
        self.rows.append((case, expected, observed, ok))
        print(f"{'ok  ' if ok else 'FAIL'} {case}: {observed}", flush=True)

    def user_error(self, case: str, args: list[str], names: str) -> None:
        """Exit 2, one line, naming `names` (the flag or file), quickly (nothing trains)."""
        outcome = self.run(*args)
        lines = outcome.error_lines
        ok = outcome.rc == 2 and len(lines) == 1 and names in lines[0]
        self.record(case, f"exit 2, one line naming {names}",
                    f"exit {outcome.rc}, {len(lines)} line(s) in {outcome.seconds:.0f} s: {lines[-1][:110] if lines else ''}",
                    ok)


def write_pandas_snapshot(source: Path, target: Path) -> None:
    """The snapshot's tables as pandas writes them by default (float64 feature lists, int64 everything)."""
    shutil.copytree(source, target)
    for path in target.rglob("*.parquet"):
        frame = pq.read_table(path).to_pandas()
        for column in frame.columns:
            if column in ("feat", "feat_val"):
                frame[column] = frame[column].map(lambda v: [float(x) for x in v])
        frame.to_parquet(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post(port: int, body: bytes) -> tuple[int, float]:
    """POST /invocations as a careful client sends a large body: headers with `Expect: 100-continue` first, and
    the body only once the server says so. Returns (status, seconds)."""
    started = time.perf_counter()
    head = (f"POST /invocations HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
        sock.sendall(head)
        reply = sock.recv(65536)
        if reply.startswith(b"HTTP/1.1 100"):
            sock.sendall(body)
            reply = reply.split(b"\r\n\r\n", 1)[1] or sock.recv(65536)
        return int(reply.split(b" ", 2)[1]), time.perf_counter() - started


def main() -> None:
    home = Path(tempfile.mkdtemp(prefix="hg2m-failsafe-"))
    replay = Replay(home)
    print(f"{platform.machine()}, {os.cpu_count()} CPU cores; stores in {home}\n", flush=True)
    snapshot = home / "graph"
    generated = replay.run("generate", "--out", str(snapshot), "--papers", "2000", "--train", "200", "--val", "100",
                           "--test", "400")
    assert generated.rc == 0, generated.stderr[-2000:]
    distill = ["--snapshot", str(snapshot), "--mlflow-uri", replay.mlflow_uri, *QUICK]

    # User errors: one line, before anything trains.
    empty = home / "empty"
    empty.mkdir()
    replay.user_error("negative seed", [*distill, "--seeds", "-1"], "--seeds")
    replay.user_error("zero epochs", [*distill, "--epochs", "0"], "--epochs")
    replay.user_error("zero teacher epochs", [*distill, "--teacher-epochs", "0"], "--teacher-epochs")
    replay.user_error("unknown dataset", ["--dataset", "nope"], "nope")
    replay.user_error("unknown student", [*distill, "--students", "nope"], "nope")
    replay.user_error("snapshot without manifest", ["--snapshot", str(empty), *QUICK], "manifest.json")
    nodes = snapshot / "nodes" / "paper.parquet"
    replay.user_error("predict onto its own input", ["predict", "--input", str(nodes), "--output", str(nodes),
                                                     "--model", "models:/x/1", "--mlflow-uri", replay.mlflow_uri],
                      "--output")
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        replay.user_error("cuda on a CPU machine", [*distill, "--device", "cuda"], "cuda")

    # A snapshot written with pandas' defaults trains and registers.
    pandas_snapshot = home / "graph-pandas"
    write_pandas_snapshot(snapshot, pandas_snapshot)
    first = replay.run("--snapshot", str(pandas_snapshot), "--mlflow-uri", replay.mlflow_uri, *QUICK)
    casts = first.stdout.count("Snapshot column cast")
    version = re.search(r"as (\S+) version (\d+)", first.stdout)
    replay.record("snapshot with pandas' default types", "exit 0, casts printed, a version registered",
                  f"exit {first.rc}, {casts} casts printed, version {version.group(2) if version else None}",
                  first.rc == 0 and casts > 0 and version is not None)

    # Re-running the same inputs without the cache registers no duplicate.
    again = replay.run("--snapshot", str(pandas_snapshot), "--mlflow-uri", replay.mlflow_uri, *QUICK, "--no-cache")
    same = re.search(r"as (\S+) version (\d+)", again.stdout)
    replay.record("re-run with --no-cache", "exit 0, the same version",
                  f"exit {again.rc}, version {same.group(2) if same else None}",
                  again.rc == 0 and same is not None and version is not None and same.group(2) == version.group(2))

    # Interruptions: one line and the conventional exit codes; a SIGKILL's open runs closed by the next start.
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        outcome = replay.interrupted(sig, *distill, "--no-cache")
        lines = outcome.error_lines
        replay.record(f"{sig.name} while the teacher trains", f"exit {code}, one line",
                      f"exit {outcome.rc}, {len(lines)} line(s): {lines[-1][:90] if lines else ''}",
                      outcome.rc == code and len(lines) == 1)
    killed = replay.interrupted(signal.SIGKILL, *distill, "--no-cache")
    after = replay.run(*distill)
    closed = re.search(r"Closed (\d+) runs a killed process had left open", after.stdout)
    replay.record("SIGKILL, then the next start", "the next start closes the open runs, then succeeds",
                  f"kill exit {killed.rc}; next start: exit {after.rc}, closed {closed.group(1) if closed else 0} runs",
                  killed.rc == -9 and after.rc == 0 and closed is not None)

    # Retraining whose newest snapshot is unreadable names it and fails.
    folders = home / "snapshots"
    shutil.copytree(snapshot, folders / "2026-01-01")
    (folders / "2026-02-01").mkdir()
    retrain = replay.run("--pipeline", "retrain", "--snapshot-dir", str(folders), "--mlflow-uri", replay.mlflow_uri,
                         *QUICK)
    lines = retrain.error_lines
    replay.record("retrain, newest snapshot unreadable", "non-zero exit, one line naming the folder",
                  f"exit {retrain.rc}, {len(lines)} line(s): {lines[-1][:90] if lines else ''}",
                  retrain.rc != 0 and len(lines) == 1 and "2026-02-01" in lines[0])

    # The server refuses an oversized request with 413 and answers the next one.
    port = free_port()
    model = f"models:/{version.group(1)}/{version.group(2)}" if version else "models:/missing/1"
    server = subprocess.Popen(replay.command("serve", "--model", model, "--mlflow-uri", replay.mlflow_uri, "--port",
                                             str(port), "--max-rows", "1000"), env=replay.env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        answers(f"http://127.0.0.1:{port}/ping", 120)
        width = len(pq.read_table(nodes, columns=["feat"])["feat"][0])
        rows = [[0.5] * width] * 100_000
        big_status, big_seconds = post(port, json.dumps({"inputs": rows}).encode())
        small_status, small_seconds = post(port, json.dumps({"inputs": rows[:10]}).encode())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    replay.record("100,000-row request, limit 1,000", "413 at once, the next request answered",
                  f"{big_status} in {big_seconds:.1f} s; next: {small_status} in {small_seconds:.2f} s",
                  big_status == 413 and small_status == 200)

    frame = pd.DataFrame(replay.rows, columns=["case", "expected", "observed", "ok"])
    print(f"\n{int(frame['ok'].sum())} of {len(frame)} cases hold\n")
    print("| case | expected | observed | holds |")
    print("|---|---|---|---|")
    for case, expected, observed, ok in replay.rows:
        print(f"| {case} | {expected} | {observed} | {'yes' if ok else '**no**'} |")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
