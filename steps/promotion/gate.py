"""The champion/challenger gate: challenger and champion scored on the snapshot's test split."""

from typing import Annotated

import mlflow
from mlflow.tracking import MlflowClient
from zenml import log_metadata, step

from hg2m.contracts import GateDecision, Registration
from hg2m.data.graph import HeteroGraphData
from hg2m.promotion import run_gate
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER, enable_cache=False)
def gate(graph: HeteroGraphData, model_graph: HeteroGraphData, registration: Registration,
         margin: float) -> Annotated[GateDecision, "gate_decision"]:
    """`graph` has raw features (what registered models take); `model_graph` the preprocessed ones (for neighbour
    inputs). Never cached: the champion it compares with may have changed since the last run."""
    link_runs()
    decision = run_gate(MlflowClient(), registration, graph, model_graph, margin)
    mlflow.log_params({"challenger_version": decision.challenger_version, "champion_version": decision.champion_version,
                       "margin": margin, "snapshot_hash": graph.snapshot_hash})
    mlflow.log_metrics({"challenger_test_micro_f1": decision.challenger_score, "promoted": float(decision.promote),
                        **({"champion_test_micro_f1": decision.champion_score} if decision.champion_score is not None
                           else {})})
    log_metadata(metadata={"gate_decision": decision.model_dump(mode="json")})
    return decision
