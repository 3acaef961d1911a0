"""Screenshots of the MLflow UI along the lineage of the newest registered model: the experiment's runs and
logged models, the pipeline's parent run, the registered version, the logged model it was registered from,
and the student run that trained it.

    ./scripts/with-env python scripts/ui_screenshots.py [--mlflow-uri URI] [--model NAME] [--out docs/img]

Starts `mlflow ui` on 127.0.0.1 for the store (default: the project's), opens each page in headless Chromium
(Debian's `chromium`, installed with apt-get when missing and run as root), writes PNGs, and stops the server by
its PID. Not part of the test command.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from hg2m.environment import default_mlflow_uri  # noqa: E402
from hg2m.server import answers  # noqa: E402


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("error: chromium is not installed; install Debian's `chromium` package (apt-get install chromium)")
    subprocess.run(["apt-get", "install", "-y", "chromium"], check=True, stdout=subprocess.DEVNULL)
    return shutil.which("chromium")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def lineage_urls(base: str, mlflow_uri: str, model: str | None) -> dict[str, str]:
    """The pages along the lineage of the newest registered version (of `model`, or of any model)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(mlflow_uri)
    versions = client.search_model_versions(f"name='{model}'" if model else "")
    if not versions:
        sys.exit(f"error: no registered model version in {mlflow_uri}: run the distill pipeline first")
    version = max(versions, key=lambda v: v.creation_timestamp)
    source = client.get_run(version.run_id)
    parent = source.data.tags.get("mlflow.parentRunId", source.info.run_id)
    experiment = source.info.experiment_id
    logged_model = version.source.removeprefix("models:/")  # registered from a logged model: models:/<model id>
    view = "?workflowType=machine_learning"  # the UI's model-training view; clicking in from the list picks it too
    return {
        "experiment": f"{base}/#/experiments/{experiment}/runs{view}",
        "models": f"{base}/#/experiments/{experiment}/models{view}",
        "parent_run": f"{base}/#/experiments/{experiment}/runs/{parent}{view}",
        "model_version": f"{base}/#/models/{version.name}/versions/{version.version}{view}",
        "logged_model": f"{base}/#/experiments/{experiment}/models/{logged_model}{view}",
        "source_run": f"{base}/#/experiments/{experiment}/runs/{source.info.run_id}{view}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mlflow-uri", default=default_mlflow_uri())
    parser.add_argument("--model", default=None, help="registered model name (default: the newest version of any)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    browser = chromium()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    urls = lineage_urls(base, args.mlflow_uri, args.model)
    mlflow_bin = Path(sys.executable).parent / "mlflow"
    server = subprocess.Popen([str(mlflow_bin), "ui", "--backend-store-uri", args.mlflow_uri, "--host", "127.0.0.1",
                               "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        if not answers(f"{base}/health", 60):
            sys.exit("error: mlflow ui did not answer within 60 s")
        args.out.mkdir(parents=True, exist_ok=True)
        for page, url in urls.items():
            path = args.out / f"mlflow-{page.replace('_', '-')}.png"
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                            "--window-size=1500,1400", "--virtual-time-budget=15000", f"--screenshot={path}", url],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            print(f"{page}: {url} -> {path}")
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
