"""The served student: pyfunc predictions, request validation, batch prediction, and `mlflow models serve` on
loopback. A tiny MLP is registered in the test session's throw-away MLflow store; no pipeline runs."""

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import mlflow
import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp
import torch
from mlflow.exceptions import MlflowException

from hg2m.data.snapshot import node_table, write_parquet
from hg2m.models.mlp import MLP
from hg2m.registry import register_challenger
from hg2m.serving import PredictError, load_student_module, log_student, predict_parquet
from hg2m.tracking import ensure_experiment

FEATURE_DIM = 6
CLASSES = ["red", "green", "blue"]
MODEL = "serving-test"
NODES = 40
SERVER_START_TIMEOUT = 120  # seconds; the server imports torch and MLflow, about 10 s on 2 cores
PROB_COLUMNS = [f"prob_{c}" for c in range(len(CLASSES))]


@pytest.fixture(scope="module")
def features() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(NODES, FEATURE_DIM)).astype(np.float32)


@pytest.fixture(scope="module")
def module() -> MLP:
    torch.manual_seed(0)
    return MLP(FEATURE_DIM, len(CLASSES), hidden_dim=8)  # left in train mode: serving must switch off dropout


@pytest.fixture(scope="module")
def experiment(mlflow_uri, tmp_path_factory) -> str:
    mlflow.set_tracking_uri(mlflow_uri)
    return ensure_experiment(mlflow_uri, "serving-test", tmp_path_factory.mktemp("mlflow-artifacts"))


@pytest.fixture(scope="module")
def model_uri(module, features, experiment) -> str:
    """The tiny MLP registered as a new version of MODEL, with class names."""
    with mlflow.start_run(experiment_id=experiment):
        info = log_student(module, features[:5], CLASSES)
        version = register_challenger(info.model_uri, MODEL, {"student": "tiny"}, key="tiny")
    return f"models:/{MODEL}/{version}"


@pytest.fixture(scope="module")
def pyfunc_model(model_uri) -> mlflow.pyfunc.PyFuncModel:
    return mlflow.pyfunc.load_model(model_uri)


def logits_of(module: torch.nn.Module, features: np.ndarray) -> torch.Tensor:
    module.eval()
    with torch.no_grad():
        return module(torch.from_numpy(np.asarray(features, dtype=np.float32)))


def test_predictions_are_the_argmax_of_the_students_logits(pyfunc_model, module, features, model_uri):
    predictions = pyfunc_model.predict(features)
    logits = logits_of(module, features)
    assert list(predictions.columns) == ["prediction", "class_name", *PROB_COLUMNS]
    assert (predictions["prediction"].to_numpy() == logits.argmax(-1).numpy()).all()
    assert (predictions["class_name"] == [CLASSES[p] for p in predictions["prediction"]]).all()
    probs = predictions[PROB_COLUMNS].to_numpy()
    np.testing.assert_allclose(probs, torch.softmax(logits, -1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(logits_of(load_student_module(model_uri), features).numpy(), logits.numpy(), rtol=1e-5)
    spec = pyfunc_model.metadata.signature.inputs.inputs[0]
    assert (spec.type, spec.shape) == (np.dtype(np.float32), (-1, FEATURE_DIM))


def with_value(features: np.ndarray, row: int, value: float) -> np.ndarray:
    bad = features.copy()
    bad[row, 2] = value
    return bad


# kind -> (bad input, message through the pyfunc model, message from StudentModel.predict itself). Shape and
# dtype are checked by MLflow's schema enforcement before the model runs, so their messages are MLflow's.
BAD_REQUESTS = {
    "wrong width": (lambda x: x[:, :4], r"Shape of input \(40, 4\) does not match expected shape \(-1, 6\)",
                    "expected 6 features per node, got 4"),
    "NaN": (lambda x: with_value(x, 3, np.nan), r"row 3 \(0-based\) has NaN/inf features", None),
    "inf in two rows": (lambda x: with_value(with_value(x, 3, np.inf), 7, -np.inf),
                        r"2 rows have NaN/inf features \(0-based rows 3, 7\)", None),
    "strings": (lambda x: x.astype(str), "dtype of input <U.* does not match expected dtype float32",
                "features must be numbers, got dtype <U"),
    "empty": (lambda x: x[:0], "no nodes: expected at least one row", None),
    "1-D": (lambda x: x[0], r"Shape of input \(6,\) does not match expected shape \(-1, 6\)",
            r"expected a 2-D array of node features \(n, 6\), got shape \(6,\)"),
    "ragged": (lambda x: [[0.1] * 6, [0.1] * 5], "Failed to enforce schema", "rectangular array"),
}


@pytest.mark.parametrize("kind", BAD_REQUESTS)
def test_bad_requests_raise_invalid_parameter_value(kind, pyfunc_model, features):
    make, through_pyfunc, own = BAD_REQUESTS[kind]
    bad = make(features)
    for predict, message in [(pyfunc_model.predict, through_pyfunc),
                             (lambda data: pyfunc_model.unwrap_python_model().predict(None, data), own or through_pyfunc)]:
        with pytest.raises(MlflowException, match=message) as err:
            predict(bad)
        assert err.value.error_code == "INVALID_PARAMETER_VALUE"


def test_class_names_must_match_the_classes(module, features):
    with pytest.raises(ValueError, match="2 class names for a model with 3 classes"):
        log_student(module, features[:5], ["red", "green"])


def write_nodes(path: Path, features: np.ndarray | sp.spmatrix) -> Path:
    table, _ = node_table(features.shape[0], features)
    write_parquet(table, path)
    return path


def test_predict_parquet_dense_and_sparse_round_trip(model_uri, pyfunc_model, features, tmp_path):
    expected = pyfunc_model.predict(features)
    for name, data in [("dense", features), ("sparse", sp.csr_matrix(np.where(features > 0.5, features, 0)))]:
        source = write_nodes(tmp_path / f"{name}.parquet", data)
        output = tmp_path / f"{name}-predictions.parquet"
        assert predict_parquet(model_uri, source, output, batch_size=16) == NODES  # 3 batches
        result = pq.read_table(output).to_pandas()
        assert list(result.columns) == ["id", "prediction", "class_name", *PROB_COLUMNS]
        assert (result["id"] == np.arange(NODES)).all()
        want = expected if name == "dense" else pyfunc_model.predict(np.asarray(data.todense(), dtype=np.float32))
        assert (result["prediction"] == want["prediction"]).all() and (result["class_name"] == want["class_name"]).all()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "dense-predictions.parquet", "dense.parquet", "sparse-predictions.parquet", "sparse.parquet"]


def without(path: Path, column: str) -> Path:
    write_parquet(pq.read_table(path).drop_columns([column]), path)
    return path


def with_nan_row(path: Path, features: np.ndarray, row: int) -> Path:
    return write_nodes(path, with_value(features, row, np.nan))


def junk(path: Path) -> Path:
    path.write_bytes(b"not parquet")
    return path


BAD_FILES = {
    "no feature column": (lambda p, x: without(write_nodes(p, x), "feat"), "no feature columns: expected dense `feat`"),
    "no id": (lambda p, x: without(write_nodes(p, x), "id"), "no `id` column"),
    "wrong width": (lambda p, x: write_nodes(p, x[:, :4]), r"expected 6 features per node, got 4 in row 0"),
    "NaN in the last batch": (lambda p, x: with_nan_row(p, x, 37), r"row 37 \(0-based\) has NaN/inf features"),
    "no rows": (lambda p, x: write_nodes(p, x[:0]), "no rows"),
    "not Parquet": (lambda p, x: junk(p), "not a readable Parquet file"),
    "missing": (lambda p, x: p, "file not found"),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_input_file_names_file_and_problem_and_leaves_the_output_alone(kind, model_uri, features, tmp_path):
    make, message = BAD_FILES[kind]
    source = make(tmp_path / "nodes.parquet", features)
    output = tmp_path / "predictions.parquet"
    output.write_bytes(b"an earlier result")
    with pytest.raises(PredictError, match=rf"nodes\.parquet: {message}"):
        predict_parquet(model_uri, source, output, batch_size=16)
    assert output.read_bytes() == b"an earlier result"  # the batches before the bad one were not written over it
    assert {p.name for p in tmp_path.iterdir()} <= {"nodes.parquet", "predictions.parquet"}  # no partial file


def test_a_model_that_is_not_a_student_pyfunc(module, features, experiment, tmp_path):
    """A version logged with MLflow's pytorch flavor (before serving existed): its module loads, predict says no."""
    with mlflow.start_run(experiment_id=experiment):
        info = mlflow.pytorch.log_model(module, name="legacy", serialization_format="pickle",
                                        pip_requirements=["torch"])
    logits = logits_of(load_student_module(info.model_uri), features)
    np.testing.assert_allclose(logits.numpy(), logits_of(module, features).numpy(), rtol=1e-5)
    with pytest.raises(PredictError, match="is not an hg2m student pyfunc model"):
        predict_parquet(info.model_uri, write_nodes(tmp_path / "nodes.parquet", features), tmp_path / "out.parquet")


def test_run_py_predict(model_uri, mlflow_uri, features, tmp_path, capsys):
    import run

    source, output = write_nodes(tmp_path / "nodes.parquet", features), tmp_path / "predictions.parquet"
    flags = ["--mlflow-uri", mlflow_uri, "--input", str(source), "--output", str(output)]
    assert run.main(["predict", "--model", model_uri, *flags, "--batch-size", "7"]) == 0
    assert f"Predicted {NODES} nodes with {model_uri}: wrote {output}" in capsys.readouterr().out
    assert pq.read_table(output).num_rows == NODES
    assert run.main(["predict", "--model", f"models:/{MODEL}@no-such-alias", *flags]) == 2
    assert capsys.readouterr().err.startswith(f"error: cannot load model models:/{MODEL}@no-such-alias")
    assert run.main(["predict", "--model", model_uri, *flags[:3], str(tmp_path / "none.parquet"), *flags[4:]]) == 2
    assert "none.parquet: file not found" in capsys.readouterr().err
    assert run.main(["predict", "--model", model_uri, *flags[:5], str(source)]) == 2  # --output = --input
    assert "is the --input file" in capsys.readouterr().err and pq.read_table(source).num_rows == NODES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"mlflow models serve exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ping", timeout=2):
                return
        except OSError:  # not listening yet
            time.sleep(0.5)
    pytest.fail(f"mlflow models serve did not answer /ping within {SERVER_START_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def server(model_uri, mlflow_uri, tmp_path_factory) -> str:
    """`mlflow models serve` of the registered student on a free loopback port, for the whole module."""
    port, bin_dir = free_port(), Path(sys.executable).parent
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "MLFLOW_TRACKING_URI": mlflow_uri, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    command = [str(bin_dir / "mlflow"), "models", "serve", "-m", model_uri, "--env-manager", "local",
               "-h", "127.0.0.1", "-p", str(port), "-w", "1"]
    with open(log, "w") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the session holds mlflow's CLI and the uvicorn it execs
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def post(url: str, body: str) -> tuple[int, dict]:
    request = urllib.request.Request(f"{url}/invocations", data=body.encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def post_expecting_continue(url: str, body: str) -> tuple[int, dict]:
    """POST as curl does a large body: headers with `Expect: 100-continue`, and the body only once the server asks
    for it. A server that refuses unread answers at once; urllib would write the whole body first and, once
    the server has closed the connection, fail with a broken pipe instead of reading the answer."""
    address = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    try:
        connection.putrequest("POST", "/invocations")
        for name, value in (("Content-Type", "application/json"), ("Content-Length", str(len(body.encode()))),
                            ("Expect", "100-continue")):
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_served_model_answers_on_loopback(server, pyfunc_model, features):
    expected = pyfunc_model.predict(features[:5])
    for body in [{"inputs": features[:5].tolist()}, {"dataframe_split": {"data": features[:5].tolist()}}]:
        status, answer = post(server, json.dumps(body))
        assert status == 200
        rows = answer["predictions"]
        assert [r["prediction"] for r in rows] == expected["prediction"].tolist()
        assert [r["class_name"] for r in rows] == expected["class_name"].tolist()
        np.testing.assert_allclose([[r[c] for c in PROB_COLUMNS] for r in rows], expected[PROB_COLUMNS], rtol=1e-5)
    integers = [[0, 1, 0, 2, 0, -1]]  # JSON integers are cast to the signature's float32
    status, answer = post(server, json.dumps({"inputs": integers}))
    assert status == 200 and answer["predictions"][0]["prediction"] == pyfunc_model.predict(
        np.array(integers, dtype=np.float32))["prediction"][0]


# JSON has no NaN: Python's json writes the literal NaN, which the server reads; null becomes NaN too.
BAD_BODIES = {
    "wrong width": ({"inputs": [[0.1] * 4]}, r"Shape of input \(1, 4\) does not match expected shape \(-1, 6\)"),
    "NaN": ({"inputs": [[0.1] * 6, [float("nan")] + [0.1] * 5]}, r"row 1 \(0-based\) has NaN/inf features"),
    "null": ({"inputs": [[None] + [0.1] * 5]}, r"row 0 \(0-based\) has NaN/inf features"),
    "string": ({"inputs": [["abc"] + [0.1] * 5]}, "could not convert string to float: 'abc'"),
    "no rows": ({"inputs": []}, "Failed to enforce schema"),
}


@pytest.mark.parametrize("kind", BAD_BODIES)
def test_served_model_answers_bad_requests_with_400(kind, server):
    body, message = BAD_BODIES[kind]
    status, answer = post(server, json.dumps(body))
    assert status == 400
    assert re.search(message, answer["message"]), answer["message"]


@pytest.fixture(scope="module")
def limited_server(model_uri, mlflow_uri, tmp_path_factory) -> str:
    """`run.py serve` of the registered student with a row limit of MAX_ROWS, on a free loopback port."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve-limited") / "serve.log"
    command = [sys.executable, str(Path(__file__).parents[1] / "run.py"), "serve", "--model", model_uri,
               "--mlflow-uri", mlflow_uri, "--port", str(port), "--max-rows", str(MAX_ROWS)]
    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until_up(f"http://127.0.0.1:{port}", process, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


MAX_ROWS = 50


def test_requests_over_the_row_limit_get_413_and_the_server_stays_responsive(limited_server, pyfunc_model, features):
    huge = json.dumps({"inputs": np.tile(features, (500, 1)).tolist()})  # 20,000 rows, 2.4 MB: refused unread
    status, answer = post_expecting_continue(limited_server, huge)
    assert status == 413 and answer["error_code"] == "REQUEST_TOO_LARGE"
    assert re.search(r"more than 50 rows of 6 features can take", answer["message"]), answer["message"]
    short = json.dumps({"inputs": [[0, 1, 0, 1, 0, 1]] * (MAX_ROWS + 10)})  # short enough to be read: counted
    status, answer = post(limited_server, short)
    assert status == 413 and re.search(r"60 rows in one request, over the limit of 50", answer["message"])
    started = time.monotonic()
    status, answer = post(limited_server, json.dumps({"inputs": features[:MAX_ROWS].tolist()}))
    seconds = time.monotonic() - started
    assert status == 200
    assert [r["prediction"] for r in answer["predictions"]] == pyfunc_model.predict(features[:MAX_ROWS])[
        "prediction"].tolist()
    assert seconds < 10, f"the request after the refused ones took {seconds:.1f} s"
