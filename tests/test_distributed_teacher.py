"""The distributed teacher (DistDGL): a small graph from the generator in 2 partitions, 2 graph servers and 2 trainers
on this host. Distributed full-neighbour inference must give the single-process logits of the same weights, row for row,
and a killed trainer must fail the job with a clear error and leave no process behind."""

import os
import socket
import subprocess
import sys
import tempfile

import psutil
import pytest
import torch
from conftest import generated_snapshot, worker_processes

from hg2m.config import GraphConfig, RGCNConfig, SimpleHGNConfig, SyntheticGraphConfig
from hg2m.data.graph import build_graph_data
from hg2m.distributed.cluster import LOCALHOST, WORKER_MODULE, DistributedError
from hg2m.distributed.partition import partition
from hg2m.distributed.teacher import train_teacher_distributed
from hg2m.teacher import infer

SMALL = SyntheticGraphConfig(num_papers=600, num_classes=3, train=120, val=60, test=150, paper_feature_dim=8,
                             side_feature_dim=4)
SAMPLED = {"sampling": {"enabled": True, "fanouts": [4, 4], "batch_size": 32}, "optim": {"max_epochs": 3},
           "hidden_dim": 16}


@pytest.fixture(scope="module")
def partitioned(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic")
    data = build_graph_data(generated_snapshot(SMALL, folder / "igb-small"), GraphConfig())
    partition(data, folder / "parts", num_parts=2, method="metis", graph_name="igb")
    return data, folder / "parts"


@pytest.mark.parametrize("config", [RGCNConfig(**SAMPLED), SimpleHGNConfig(**SAMPLED, num_heads=2)],
                         ids=["rgcn", "simplehgn"])
def test_distributed_inference_gives_the_single_process_logits_of_the_same_weights(partitioned, config):
    data, parts = partitioned
    epochs = []
    result = train_teacher_distributed(data, parts, config, GraphConfig(), seed=0, inference_fanouts=[-1, -1],
                                       on_epoch=lambda epoch, record: epochs.append(epoch), with_embeddings=True)
    trained, peak_mib = result.trained, result.peak_mib
    assert sorted(peak_mib) == ["server0", "server1", "trainer0", "trainer1"] and min(peak_mib.values()) > 10
    assert epochs == list(range(1, trained.fit.epochs_run + 1)) and trained.fit.epochs_run == 3
    single = infer(trained.model, data)  # the gathered model, in the graph's own node order, one process
    assert trained.logits.shape == (data.num_target_nodes, data.num_classes)
    assert torch.allclose(trained.logits, single.logits, atol=1e-5), (trained.logits - single.logits).abs().max()
    # HIRE's teacher embeddings: every type's last hidden layer, featureless types included
    assert sorted(result.embeddings) == sorted(data.graph.ntypes) == sorted(single.embeddings)
    for ntype, embeddings in result.embeddings.items():
        assert torch.allclose(embeddings, single.embeddings[ntype], atol=1e-5), ntype
    assert trained.metrics["val"]["micro_f1"] > 1 / data.num_classes  # it learnt something in 3 epochs
    assert worker_processes() == []


def test_a_killed_trainer_fails_the_job_and_leaves_no_process_or_port_behind(partitioned, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the failed job's folder (kept for its logs) goes here
    data, parts = partitioned
    config = RGCNConfig(**{**SAMPLED, "optim": {"max_epochs": 200, "early_stopping": False}})
    seen = {}

    def kill_trainer_one(epoch, record):
        if epoch == 1:
            trainer = next(p for p in worker_processes()
                           if p.environ().get("DGL_ROLE") == "client" and p.environ().get("RANK") == "1")
            seen["ports"] = [int(line.split()[1]) for line in open(p_ip_config(trainer)).read().splitlines()]
            trainer.kill()

    with pytest.raises(DistributedError, match=r"distributed trainer1 exited with code -9 .*every other process "
                                               r"was stopped"):
        train_teacher_distributed(data, parts, config, GraphConfig(), seed=0, on_epoch=kill_trainer_one)
    assert worker_processes() == []
    for port in seen["ports"]:  # nothing listens on the servers' ports any more (closed connections may linger
        with socket.socket() as sock:  # in TIME_WAIT, which SO_REUSEADDR lets a new listener pass, as servers do)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((LOCALHOST, port))
            sock.listen()


def p_ip_config(process: psutil.Process) -> str:
    return process.environ()["DGL_IP_CONFIG"]


def test_killing_the_launching_process_outright_ends_its_workers(partitioned, tmp_path):
    """SIGKILL leaves no `finally` to run: the workers must still go (the kernel's parent-death signal)."""
    data, parts = partitioned
    script = tmp_path / "launch.py"  # its job folder stays behind (a killed launcher cleans nothing): under tmp_path
    torch.save(data, tmp_path / "data.pt")
    script.write_text(
        "import sys, torch\n"
        "from hg2m.config import GraphConfig, RGCNConfig\n"
        "from hg2m.distributed.teacher import train_teacher_distributed\n"
        f"data = torch.load({str(tmp_path / 'data.pt')!r})\n"
        "config = RGCNConfig(sampling={'enabled': True, 'fanouts': [4, 4], 'batch_size': 32}, hidden_dim=16,\n"
        "                    optim={'max_epochs': 1000, 'early_stopping': False})\n"
        f"train_teacher_distributed(data, {str(parts)!r}, config, GraphConfig(), seed=0,\n"
        "                          on_epoch=lambda epoch, record: print('epoch', epoch, flush=True))\n")
    launcher = psutil.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "TMPDIR": str(tmp_path)})
    assert launcher.stdout.readline().startswith("epoch 1")  # the servers and trainers are up and training
    workers = [p for p in launcher.children(recursive=True) if WORKER_MODULE in " ".join(p.cmdline())]
    assert len(workers) == 4
    launcher.kill()
    launcher.wait()
    gone, alive = psutil.wait_procs(workers, timeout=30)
    assert alive == []
