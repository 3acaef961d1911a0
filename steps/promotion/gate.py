"""The champion/challenger gate of a retrain: both students scored on the new snapshot's test split."""

from typing import Annotated

import mlflow
from mlflow.tracking import MlflowClient
from zenml import log_metadata, step

from hg2m.data.graph import HeteroGraphData
from hg2m.promotion import decide, test_micro_f1
from hg2m.registry import CHAMPION_ALIAS
from hg2m.serving import load_student_module
from steps.tracking import TRACKER, link_runs


@step(experiment_tracker=TRACKER, enable_cache=False)
def gate(
    graph: HeteroGraphData, model_name: str, challenger_version: str, champion_version: str | None, margin: float,
) -> Annotated[dict, "gate_decision"]:
    """`champion_version` is the champion before this retrain (None: there was none)."""
    link_runs()
    score = {version: test_micro_f1(load_student_module(f"models:/{model_name}/{version}"), graph)
             for version in {challenger_version, champion_version} - {None}}
    decision = decide(score[challenger_version], score.get(champion_version), margin)
    client = MlflowClient()
    if decision.promote:
        client.set_registered_model_alias(model_name, CHAMPION_ALIAS, challenger_version)
    result = {**decision.as_dict(), "model_name": model_name, "challenger_version": challenger_version,
              "champion_version": champion_version, "snapshot_hash": graph.snapshot_hash}
    for key in ("promote", "challenger_score", "champion_score", "reason", "champion_version"):
        client.set_model_version_tag(model_name, challenger_version, f"gate_{key}", str(result[key]))
    mlflow.log_params({"challenger_version": challenger_version, "champion_version": champion_version,
                       "margin": margin, "snapshot_hash": graph.snapshot_hash})
    mlflow.log_metrics({"challenger_test_micro_f1": decision.challenger_score, "promoted": float(decision.promote),
                        **({"champion_test_micro_f1": decision.champion_score} if champion_version else {})})
    log_metadata(metadata={"gate_decision": result})
    return result
