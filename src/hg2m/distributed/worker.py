"""The entry point of every process hg2m starts: `python -m hg2m.distributed.worker JOB_DIR`.

HG2M_JOB=students: a data-parallel student rank (hg2m.distributed.students), with torch.distributed's variables.
Otherwise a DistDGL process:
DGL_ROLE (set by hg2m.distributed.cluster here, or by DGL's tools/launch.py on a cluster, with the other DGL_*
variables and torch.distributed's RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT) says whether this is a graph server,
which serves its partition until every trainer has left, or a trainer, which runs the job in JOB_DIR
(hg2m.distributed.teacher). With one server per machine, as hg2m runs it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dgl
import dgl.distributed.kvstore
import dgl.distributed.rpc_client

from hg2m.distributed.cluster import PEAK_SUFFIX
from hg2m.resources import peak_rss_mb


def share_memory_per_machine(machine: int) -> None:
    """Let several DistDGL "machines" share one host. A graph server puts its partition's node data in shared memory
    under the data's name, and a trainer maps the shared memory of the server on its own machine, found by matching
    the host's addresses against ip_config. On one host every server would write the same names and every trainer
    would take itself for machine 0, so here each machine's shared memory gets its own prefix and each trainer is
    told its machine. On a real cluster (one machine per host) neither is needed, and neither is done."""
    create = dgl.distributed.kvstore.empty_shared_mem
    dgl.distributed.kvstore.empty_shared_mem = lambda name, *args: create(f"hg2m-m{machine}-{name}", *args)
    dgl.distributed.rpc_client.get_local_machine_id = lambda server_namebook: machine


def serve() -> None:
    ip_config = os.environ["DGL_IP_CONFIG"]
    if not one_host(Path(ip_config)):
        dgl.distributed.initialize(ip_config)  # serves until every trainer has left, then exits
        return
    server_id = int(os.environ["DGL_SERVER_ID"])
    share_memory_per_machine(server_id)
    # As dgl.distributed.initialize does for DGL_ROLE=server, but without the graph structure in shared memory,
    # which DGL names after the graph alone (trainers sample through the servers instead)
    server = dgl.distributed.DistGraphServer(
        server_id, ip_config, int(os.environ["DGL_NUM_SERVER"]), int(os.environ["DGL_NUM_CLIENT"]),
        os.environ["DGL_CONF_PATH"], disable_shared_mem=True, graph_format=os.environ["DGL_GRAPH_FORMAT"].split(","))
    server.start()


def one_host(ip_config: Path) -> bool:
    """Whether every machine of ip_config is the same host (the local run)."""
    hosts = [line.split()[0] for line in ip_config.read_text().splitlines() if line.strip()]
    return len(hosts) > 1 and len(set(hosts)) == 1


def main(job_dir: Path) -> None:
    if os.environ.get("HG2M_JOB") == "students":
        from hg2m.distributed.students import run_rank

        run_rank(job_dir)
    elif os.environ.get("DGL_ROLE") == "server":
        serve()
    else:
        if one_host(Path(os.environ["DGL_IP_CONFIG"])):
            share_memory_per_machine(int(os.environ["HG2M_MACHINE"]))  # set by hg2m.distributed.cluster
        from hg2m.distributed.teacher import run_trainer  # the trainer's imports (torch models) are not the server's

        run_trainer(job_dir)
    name = os.environ.get("HG2M_PROCESS")  # set by hg2m.distributed.cluster, which reports the peaks
    if name:
        (job_dir / f"{name}{PEAK_SUFFIX}").write_text(f"{peak_rss_mb():.1f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
