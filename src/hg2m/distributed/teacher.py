"""A teacher trained on the partitions with DistDGL, as DGL's distributed examples train one: graph servers, trainers
that sample neighbourhoods through them (`DistGraph`, `DistNodeDataLoader`) and average gradients with PyTorch DDP
over gloo. The result is what single-process training returns (hg2m.train.TrainedModel): the model, in the graph's
own node order, and its logits for every target node, from distributed batched inference, each trainer scoring its
share of the target nodes; nothing downstream can tell the difference.

Two sides: `train_teacher_distributed` (the pipeline's process) writes the job, starts the cluster
(hg2m.distributed.cluster) and gathers the trainers' outputs; `run_trainer` is what each trainer process runs.
Partitions number nodes their own way (shuffled ids): trainers work in those ids, and the gathering maps logits and
the learned embeddings of featureless types back with the partition's `orig_ids.pt`.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dgl
import torch
from torch.nn.parallel import DistributedDataParallel

from hg2m.config import GraphConfig, TeacherConfig
from hg2m.data.graph import HeteroGraphData
from hg2m.distributed.cluster import ClusterSpec, run_cluster
from hg2m.distributed.partition import EDGE_KEYS, FEATURE_KEY, LABEL_KEY, MASK_KEYS, ORIG_IDS_FILE, read_summary
from hg2m.distributed.progress import ProgressReader, progress_writer
from hg2m.evaluate import split_metrics
from hg2m.labels import supervised_loss, validation
from hg2m.models import TEACHERS, Teacher, TeacherSpec, teacher_spec
from hg2m.models.base import ids_by_type
from hg2m.train import EpochCallback, FitResult, TrainedModel, fit, seed_everything

JOB_FILE, MODEL_FILE = "job.pt", "model.pt"


@dataclass(frozen=True)
class TeacherJob:
    """What every trainer reads from the job folder."""

    spec: TeacherSpec
    config: TeacherConfig
    graph_name: str
    seed: int
    inference_fanouts: list[int]  # -1 everywhere: every neighbour (the full-batch logits)
    with_embeddings: bool  # also every node's last hidden layer, by type (what HIRE distils)


@dataclass
class DistributedTeacher:
    """What train_teacher_distributed returns: the trained model and its logits as one process would return them,
    every type's embeddings (with_embeddings; else None), and each process's peak resident memory in MiB."""

    trained: TrainedModel
    embeddings: dict[str, torch.Tensor] | None
    peak_mib: dict[str, float]


def outputs_file(rank: int) -> str:
    return f"outputs{rank}.pt"


def train_teacher_distributed(
    data: HeteroGraphData, partitions: Path, config: TeacherConfig, graph_config: GraphConfig, seed: int,
    trainers_per_part: int = 1, timeout_s: float = 3600, on_epoch: EpochCallback | None = None,
    inference_fanouts: list[int] | None = None, with_embeddings: bool = False,
) -> DistributedTeacher:
    """Train `config` on the partitions of `data`'s graph (`partitions`, as hg2m.distributed.partition wrote them)
    with one server per part and `trainers_per_part` trainers each, all on this host. Training samples the config's
    `sampling.fanouts`; validation, the soft labels and the embeddings use `inference_fanouts` (default: the
    config's inference fanouts). Peaks are keyed by process (`server0`, `trainer0`, ...)."""
    if not config.trains_on_partitions:
        raise ValueError(f"teacher {config.model!r} does not train on partitions")
    book = read_summary(partitions)
    job_dir = Path(tempfile.mkdtemp(prefix="hg2m-distributed-"))
    job = TeacherJob(spec=teacher_spec(data, graph_config, {}), config=config, graph_name=book.graph_name, seed=seed,
                     inference_fanouts=inference_fanouts or config.sampling.predict_fanouts,
                     with_embeddings=with_embeddings)
    torch.save(job, job_dir / JOB_FILE)
    cluster = ClusterSpec(num_parts=book.num_parts, trainers_per_part=trainers_per_part,
                          part_config=Path(partitions) / book.config_file, job_dir=job_dir)
    progress = ProgressReader(job_dir, on_epoch)
    peak_mib = run_cluster(cluster, timeout_s, on_poll=progress.poll)  # on failure the job folder stays, for its logs
    progress.poll()
    original = torch.load(Path(partitions) / ORIG_IDS_FILE)["nodes"]
    saved = torch.load(job_dir / MODEL_FILE)
    model = TEACHERS[config.model](job.spec, config)
    model.load_state_dict(in_original_order(saved["state_dict"], original))
    model.eval()
    shares = [torch.load(job_dir / outputs_file(rank)) for rank in range(cluster.num_trainers)]
    shutil.rmtree(job_dir, ignore_errors=True)
    target = data.target_type
    logits = gathered([share[target]["ids"] for share in shares], [share[target]["logits"] for share in shares],
                      original[target], f"{target} logits")
    embeddings = {t: gathered([share[t]["ids"] for share in shares], [share[t]["embeddings"] for share in shares],
                              original[t], f"{t} embeddings") for t in data.graph.ntypes} if with_embeddings else None
    fit_result = FitResult(**saved["fit"])
    trained = TrainedModel(model=model, logits=logits, fit=fit_result, metrics=split_metrics(logits, data))
    return DistributedTeacher(trained, embeddings, peak_mib)


def in_original_order(state: dict[str, torch.Tensor], original: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The learned embeddings of featureless types were indexed by partition ids: put row i at original id
    original[t][i]. Every other weight is independent of node ids."""
    state = dict(state)
    for key, weight in state.items():
        parts = key.split(".")
        if parts[:2] == ["inputs", "embed"] and parts[-1] == "weight":
            reordered = torch.empty_like(weight)
            reordered[original[parts[2]]] = weight
            state[key] = reordered
    return state


def gathered(ids: list[torch.Tensor], rows: list[torch.Tensor], original: torch.Tensor, what: str) -> torch.Tensor:
    """The trainers' shares of one type's rows (partition ids, rows), placed at the nodes' original ids."""
    ids, rows = torch.cat(ids), [share for share in rows if len(share)]  # a trainer may hold no node of a type
    num_nodes = len(original)
    if not torch.equal(ids.sort().values, torch.arange(num_nodes)):
        raise RuntimeError(f"the trainers' {what} cover {ids.unique().numel()} of {num_nodes} nodes")
    out = torch.empty(num_nodes, rows[0].shape[1])
    out[original[ids]] = torch.cat(rows)
    return out


# --- the trainer process -------------------------------------------------------------------------------------------

def run_trainer(job_dir: Path) -> None:
    """One trainer: join the servers and the DDP group, train, score this trainer's share of the target nodes."""
    job: TeacherJob = torch.load(job_dir / JOB_FILE)
    dgl.distributed.initialize(os.environ["DGL_IP_CONFIG"])
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    machine = dgl.distributed.rpc.get_machine_id()  # found from this host's address, as on a cluster
    book, *_ = dgl.distributed.load_partition_book(os.environ["DGL_CONF_PATH"], machine)
    graph = dgl.distributed.DistGraph(job.graph_name, gpb=book)
    target = job.spec.target_type

    seed_everything(job.seed)
    model = TEACHERS[job.config.model](job.spec, job.config)
    parallel = DistributedDataParallel(model, find_unused_parameters=True)  # a batch may miss a type's weights
    train, val = (own_share(graph, target, graph.nodes[target].data[MASK_KEYS[split]]) for split in ("train", "val"))
    sampling = job.config.sampling
    # `batch_size` is the global batch, as in one process: DDP averages the trainers' gradients, so each takes its
    # share and an epoch makes the same optimiser steps on the same effective batch
    per_trainer = math.ceil(sampling.batch_size / torch.distributed.get_world_size())
    loader = dgl.dataloading.DistNodeDataLoader(graph, {target: train}, dgl.dataloading.NeighborSampler(
        sampling.fanouts), batch_size=per_trainer, shuffle=True, drop_last=False)

    def losses() -> Iterator[torch.Tensor]:
        with parallel.join():  # trainers' shares may differ by a batch
            for input_nodes, output_nodes, blocks in loader:
                logits = parallel(*batch_inputs(graph, job.spec, input_nodes, blocks)).logits
                yield supervised_loss(logits, graph.nodes[target].data[LABEL_KEY][output_nodes[target]])

    def val_score() -> float | tuple[float, float]:
        # every trainer scores its share and sees all of them, so that all stop on the same epoch
        ids, logits, _ = infer(model, graph, job.spec, val, job.inference_fanouts, sampling.inference_batch_size)
        labels = graph.nodes[target].data[LABEL_KEY][ids]
        return validation(all_gathered(logits), all_gathered(labels))

    result = fit(parallel, losses, val_score, job.config.optim, progress_writer(job_dir, rank))
    torch.save(outputs(model, graph, job), job_dir / outputs_file(rank))
    if rank == 0:
        torch.save({"state_dict": model.state_dict(), "fit": dataclasses.asdict(result)}, job_dir / MODEL_FILE)
    torch.distributed.barrier()
    torch.distributed.destroy_process_group()


def outputs(model: Teacher, graph: dgl.distributed.DistGraph, job: TeacherJob) -> dict[str, dict[str, torch.Tensor]]:
    """This trainer's share of the target nodes' logits, and with_embeddings of every type's embeddings: node type ->
    {"ids": partition ids, "logits" (target type) and "embeddings": their rows}. One inference pass per type."""
    target = job.spec.target_type
    shares = {}
    for ntype in graph.ntypes if job.with_embeddings else [target]:
        nodes = own_share(graph, ntype, torch.ones(graph.num_nodes(ntype), dtype=torch.bool))
        ids, logits, embeddings = infer(model, graph, job.spec, nodes, job.inference_fanouts,
                                        job.config.sampling.inference_batch_size, ntype, job.with_embeddings)
        shares[ntype] = {"ids": ids, **({"logits": logits} if ntype == target else {}),
                         **({"embeddings": embeddings} if job.with_embeddings else {})}
    return shares


def own_share(graph: dgl.distributed.DistGraph, target: str, mask) -> torch.Tensor:
    """This trainer's even share of the target nodes in `mask`, taken from its own partition first."""
    return dgl.distributed.node_split(mask, graph.get_partition_book(), ntype=target, force_even=True)


def batch_inputs(graph: dgl.distributed.DistGraph, spec: TeacherSpec, input_nodes, blocks: list[dgl.DGLGraph],
                 ) -> tuple[list[dgl.DGLGraph], dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """The teacher's (blocks, features, input ids) for one sampled batch: the features of the batch's input nodes
    fetched from the servers (so input ids become positions in them; featureless types keep their ids for their
    embeddings), and the edge data the partitions carry (RGCN's whole-graph degree scale) put on the blocks."""
    ids = ids_by_type(input_nodes, blocks[0])
    features = {t: graph.nodes[t].data[FEATURE_KEY][ids[t]] for t in ids if t in spec.feature_dims}
    positions = {t: torch.arange(len(ids[t])) if t in features else ids[t] for t in ids}
    for block in blocks:
        for etype in block.canonical_etypes:
            edge_ids = block.edges[etype].data[dgl.EID]
            for key in EDGE_KEYS:
                block.edges[etype].data[key] = graph.edges[etype].data[key][edge_ids]
    return blocks, features, positions


def infer(model: Teacher, graph: dgl.distributed.DistGraph, spec: TeacherSpec, nodes: torch.Tensor,
          fanouts: list[int], batch_size: int, ntype: str | None = None, with_embeddings: bool = False,
          ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(ids, logits, embeddings) of `nodes` of `ntype` (default: the target type), batch by batch over sampled
    neighbourhoods (-1: every neighbour). Logits have rows for target nodes only; the embeddings (the last hidden
    layer) are kept only `with_embeddings`, else None."""
    ntype = ntype or spec.target_type
    loader = dgl.dataloading.DistNodeDataLoader(graph, {ntype: nodes}, dgl.dataloading.NeighborSampler(fanouts),
                                                batch_size=batch_size, shuffle=False, drop_last=False)
    model.eval()
    ids, logits, embeddings = [nodes.new_empty(0)], [torch.empty(0, spec.num_classes)], []
    with torch.no_grad():
        for input_nodes, output_nodes, blocks in loader:
            out = model(*batch_inputs(graph, spec, input_nodes, blocks))
            ids.append(output_nodes[ntype])
            logits.append(out.logits)
            if with_embeddings:
                embeddings.append(out.embeddings[ntype])
    ids, logits = torch.cat(ids), torch.cat(logits)
    if not with_embeddings:
        return ids, logits, None
    return ids, logits, torch.cat(embeddings) if embeddings else torch.empty(0, 0)  # no node here: gathered skips it


def all_gathered(tensor: torch.Tensor) -> torch.Tensor:
    shares = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(shares, tensor)
    return torch.cat(shares)
