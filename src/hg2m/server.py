"""The served student over HTTP: MLflow's own scoring server (`mlflow models serve` runs the same app), behind a
request-size guard, so that an oversized request is refused with 413 before it is read, let alone parsed.

Two checks, one limit in rows (`max_rows`):
- before reading: a body longer than `max_rows` rows could possibly take (Content-Length, at REQUEST_BYTES_PER_VALUE
  per feature value) is refused at once; a body without a Content-Length is refused with 411.
- after MLflow parsed a body that passed: the student pyfunc refuses more than `max_rows` rows
  (hg2m.serving.check_request_rows; 429 from MLflow, which has no 413), and the guard answers 413 instead.
"""

from __future__ import annotations

import os
import time
import urllib.request

import mlflow
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from mlflow.environment_variables import MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT
from mlflow.pyfunc import scoring_server

from hg2m.serving import MAX_ROWS_ENV

REQUEST_BYTES_PER_VALUE = 32  # a JSON float with its separator: "-1.2345678901234567e-300, " is 26 bytes
REQUEST_BYTES_PER_ROW = 16  # brackets and commas around a row
REQUEST_BYTES_BASE = 4096  # the body's keys (inputs, dataframe_split, columns, params)
TOO_LARGE = "REQUEST_TOO_LARGE"


def request_byte_limit(max_rows: int, feature_dim: int) -> int:
    """The longest body `max_rows` rows of `feature_dim` values can take, written as JSON."""
    return REQUEST_BYTES_BASE + max_rows * (feature_dim * REQUEST_BYTES_PER_VALUE + REQUEST_BYTES_PER_ROW)


def too_large(message: str, status: int = 413) -> JSONResponse:
    return JSONResponse({"error_code": TOO_LARGE, "message": message}, status_code=status)


def serving_app(model_uri: str, max_rows: int, timeout_s: int) -> FastAPI:
    """MLflow's scoring app for the student at `model_uri`, refusing requests over `max_rows` rows with 413 and
    answering 504 after `timeout_s` seconds (MLflow's request timeout)."""
    os.environ[MAX_ROWS_ENV] = str(max_rows)
    os.environ[MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT.name] = str(timeout_s)  # read by scoring_server.init
    model = mlflow.pyfunc.load_model(model_uri)
    feature_dim = model.metadata.get_input_schema().inputs[0].shape[-1]
    byte_limit = request_byte_limit(max_rows, feature_dim)
    app = scoring_server.init(model)

    @app.middleware("http")  # added last, so it runs first: before MLflow's middleware reads the body
    async def row_limit(request: Request, call_next) -> Response:
        if request.url.path != "/invocations":
            return await call_next(request)
        length = request.headers.get("content-length")
        if length is None:
            return too_large("a request must state its Content-Length (chunked bodies are not accepted)", 411)
        if int(length) > byte_limit:
            return too_large(f"request body of {int(length):,} bytes: more than {max_rows:,} rows of {feature_dim} "
                             f"features can take ({byte_limit:,} bytes); split it, or raise --max-rows")
        response = await call_next(request)
        if response.status_code != 429:
            return response
        body = b"".join([chunk async for chunk in response.body_iterator])
        return Response(body, status_code=413, media_type="application/json")

    return app


def answers(url: str, seconds: float) -> bool:
    """Whether `url` answers a GET within `seconds` (polling: for a server that is starting)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return True
        except OSError:  # not listening yet
            time.sleep(0.5)
    return False
