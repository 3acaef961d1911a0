"""The ZenML stack hg2m runs on: local orchestrator and artifact store, MLflow tracker and registry."""

from __future__ import annotations

import logging
from datetime import datetime

from zenml.client import Client
from zenml.enums import StackComponentType
from zenml.logger import ZenMLConsoleHandler

from steps.tracking import TRACKER as EXPERIMENT_TRACKER

MODEL_REGISTRY = "hg2m_mlflow_registry"
STACK = "hg2m_local"


def ensure_component(client: Client, kind: StackComponentType, name: str, flavor: str, config: dict) -> None:
    """Create the component, or update its configuration when it differs (e.g. a new tracking URI)."""
    try:
        component = client.get_stack_component(kind, name)
    except KeyError:
        client.create_stack_component(name=name, flavor=flavor, component_type=kind, configuration=config)
        return
    if any(component.configuration.get(k) != v for k, v in config.items()):
        client.update_stack_component(name, kind, configuration=config)


def ensure_stack(tracking_uri: str) -> None:
    """Idempotent: register (once) and activate the hg2m stack with an MLflow tracker at `tracking_uri`."""
    client = Client()
    ensure_component(client, StackComponentType.EXPERIMENT_TRACKER, EXPERIMENT_TRACKER, "mlflow",
                     {"tracking_uri": tracking_uri})
    ensure_component(client, StackComponentType.MODEL_REGISTRY, MODEL_REGISTRY, "mlflow", {})
    try:
        client.get_stack(STACK)
    except KeyError:
        client.create_stack(name=STACK, components={
            StackComponentType.ORCHESTRATOR: "default",
            StackComponentType.ARTIFACT_STORE: "default",
            StackComponentType.EXPERIMENT_TRACKER: EXPERIMENT_TRACKER,
            StackComponentType.MODEL_REGISTRY: MODEL_REGISTRY,
        })
    if client.active_stack_model.name != STACK:
        client.activate_stack(STACK)


class ConsoleWithoutTracebacks(logging.Handler):
    """ZenML's console output without its reports of a failed step and without tracebacks: run.py prints the
    error once, naming the step, and writes the full traceback to a log file. ZenML's stored step logs keep all."""

    def __init__(self, console: logging.Handler):
        super().__init__(console.level)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("zenml.orchestrators") and record.levelno >= logging.ERROR:
            return  # "Failed to run step X: ..." and "Step X failed.": run.py says it once, naming the step
        if record.exc_info and record.name.startswith("zenml"):
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        self.console.handle(record)


def console_without_step_tracebacks() -> None:
    """Idempotent: wrap the root logger's ZenML console handler in ConsoleWithoutTracebacks."""
    root = logging.getLogger()
    root.handlers = [ConsoleWithoutTracebacks(h) if isinstance(h, ZenMLConsoleHandler) else h for h in root.handlers]


def failed_step(since: datetime) -> str | None:
    """The name of a failed step of the newest pipeline run in the store started after `since`, if any."""
    runs = Client().list_pipeline_runs(sort_by="desc:created", size=1, hydrate=True)
    if not runs.items or runs.items[0].created < since:
        return None
    return next((name for name, step in runs.items[0].steps.items() if step.status == "failed"), None)
