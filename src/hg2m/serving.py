"""Serve a student: an MLflow pyfunc model that maps node features to class predictions.

Input: node features, float32 (n, feature_dim), one row per node (the signature is a tensor spec). Output:
a frame with one row per node:

    prediction   int64    the class index (argmax of the logits)
    class_name   string   the class's name; only when the dataset names its classes
    prob_<c>     float32  softmax probability of class c, for c = 0..num_classes-1 (each row sums to 1)

A multi-label student (hg2m.labels) answers a set of classes per node: `prediction` is its bitmask (the sum of
2**c over the classes whose probability is above one half, 0 for none), `class_name` their names joined by ",",
and `prob_<c>` each class's own sigmoid probability.

Bad input (wrong width, NaN/inf, non-numeric, empty or not 2-D) raises MlflowException with
INVALID_PARAMETER_VALUE, which `mlflow models serve` answers with HTTP 400. The student's torch module
is stored as TorchScript, so it loads with torch alone; this module travels with the model (code_paths)
and imports neither DGL nor the rest of hg2m.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
import torch
from mlflow.environment_variables import _MLFLOW_IS_IN_SERVING_ENVIRONMENT
from mlflow.exceptions import MlflowException
from mlflow.models import ModelSignature, get_model_info
from mlflow.models.model import ModelInfo
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, REQUEST_LIMIT_EXCEEDED
from mlflow.types import ColSpec, Schema, TensorSpec
from torch import nn

PACKAGE_DIR = Path(__file__).resolve().parent
MODEL_NAME = "student"  # the logged model's name inside its run
MODULE_ARTIFACT = "student_module"
REQUIREMENTS = ("torch", "numpy", "pandas", "pyarrow", "scipy")
SHOWN_ROWS = 5  # bad rows listed in an error message
MAX_ROWS_ENV = "HG2M_MAX_REQUEST_ROWS"  # rows one HTTP request may hold (hg2m.server sets it; also read under
DEFAULT_MAX_ROWS = 100_000              # `mlflow models serve`); Python callers and run.py predict have no limit


class PredictError(ValueError):
    """Batch prediction cannot run: a missing or malformed input file, or a model that does not load."""


class StudentModel(mlflow.pyfunc.PythonModel):
    """The pyfunc wrapper: validates features, runs the TorchScript student, returns predictions."""

    multi_label = False  # models logged before multi-label students existed unpickle without the attribute

    def __init__(self, feature_dim: int, class_names: Sequence[str], multi_label: bool = False):
        self.feature_dim = feature_dim
        self.class_names = list(class_names)
        self.multi_label = multi_label
        self.module: nn.Module | None = None  # loaded from the artifact, never pickled with the wrapper

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.module = torch.jit.load(context.artifacts[MODULE_ARTIFACT], map_location="cpu").eval()

    # np.ndarray is a hint MLflow derives no signature from (other hints change how requests are parsed).
    def predict(self, context: mlflow.pyfunc.PythonModelContext, model_input: np.ndarray,
                params: dict | None = None) -> pd.DataFrame:
        """Class predictions for node features (n, feature_dim)."""
        check_request_rows(model_input)
        return self.predict_features(check_features(model_input, self.feature_dim))

    def predict_features(self, features: np.ndarray) -> pd.DataFrame:
        """Predictions for features already checked (float32, finite, right width)."""
        with torch.no_grad():
            logits = self.module(torch.from_numpy(features))
        return predictions_frame(logits, self.class_names, self.multi_label)


def check_request_rows(model_input: object) -> None:
    """In a scoring server, more rows than MAX_ROWS_ENV allows are refused (REQUEST_LIMIT_EXCEEDED: HTTP 429 from
    `mlflow models serve`, 413 from `run.py serve`) before the features are checked or converted."""
    if os.environ.get(_MLFLOW_IS_IN_SERVING_ENVIRONMENT.name) != "true":
        return
    limit = int(os.environ.get(MAX_ROWS_ENV, DEFAULT_MAX_ROWS))
    rows = len(model_input) if hasattr(model_input, "__len__") else 0
    if rows > limit:
        raise MlflowException(f"{rows:,} rows in one request, over the limit of {limit:,}: split the request, or "
                              f"raise the limit (run.py serve --max-rows, or {MAX_ROWS_ENV})",
                              error_code=REQUEST_LIMIT_EXCEEDED)


def invalid(message: str) -> MlflowException:
    """An error that the scoring server answers with HTTP 400."""
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)


def check_features(data: object, feature_dim: int, first_row: int = 0) -> np.ndarray:
    """`data` as a float32 (n, feature_dim) array of finite numbers, else an error naming the problem.

    `first_row` shifts the row numbers in messages (0-based), for data that is one batch of a larger table.
    """
    try:
        array = data.to_numpy() if isinstance(data, pd.DataFrame) else np.asarray(data)
    except (ValueError, TypeError) as err:  # ragged nested lists
        raise invalid(f"features must be a rectangular array (nodes x features): {err}") from None
    if array.dtype.kind not in "iuf":
        raise invalid(f"features must be numbers, got dtype {array.dtype}")
    if array.ndim != 2:
        raise invalid(f"expected a 2-D array of node features (n, {feature_dim}), got shape {array.shape}")
    if array.shape[0] == 0:
        raise invalid("no nodes: expected at least one row of features")
    if array.shape[1] != feature_dim:
        raise invalid(f"expected {feature_dim} features per node, got {array.shape[1]}")
    # float64 beyond float32's range becomes inf; writable, because torch warns on read-only (Arrow) buffers
    features = np.require(array, dtype=np.float32, requirements=["C", "W"])
    bad = np.flatnonzero(~np.isfinite(features).all(axis=1)) + first_row
    if len(bad) == 1:
        raise invalid(f"row {bad[0]} (0-based) has NaN/inf features")
    if len(bad):
        shown = ", ".join(map(str, bad[:SHOWN_ROWS])) + (", ..." if len(bad) > SHOWN_ROWS else "")
        raise invalid(f"{len(bad)} rows have NaN/inf features (0-based rows {shown})")
    return features


def predictions_frame(logits: torch.Tensor, class_names: Sequence[str], multi_label: bool = False) -> pd.DataFrame:
    """prediction, class_name (when named) and prob_<c> columns, one row per node (module doc)."""
    logits = logits.float()
    if multi_label:
        probs, chosen = torch.sigmoid(logits).numpy(), (logits > 0).numpy()
        prediction = (chosen.astype(np.int64) << np.arange(chosen.shape[1], dtype=np.int64)).sum(axis=1)
    else:
        probs, prediction = torch.softmax(logits, dim=-1).numpy(), logits.argmax(dim=-1).numpy().astype(np.int64)
    frame = pd.DataFrame({"prediction": prediction})
    if class_names and multi_label:
        frame["class_name"] = [",".join(n for n, on in zip(class_names, row) if on) for row in chosen]
    elif class_names:
        frame["class_name"] = np.asarray(class_names, dtype=object)[prediction]
    for c in range(probs.shape[1]):
        frame[f"prob_{c}"] = probs[:, c]
    return frame


def pip_requirements() -> list[str]:
    """Pinned from this environment; listing them skips MLflow's inference (a subprocess that loads the model)."""
    return [f"{name}=={version(name).split('+')[0]}" for name in ("mlflow", *REQUIREMENTS)]


def student_signature(feature_dim: int, num_classes: int, named: bool) -> ModelSignature:
    """float32 (-1, feature_dim) in; prediction, class_name (when named) and prob_<c> columns out."""
    outputs = [ColSpec("long", "prediction"), *([ColSpec("string", "class_name")] if named else []),
               *(ColSpec("float", f"prob_{c}") for c in range(num_classes))]
    return ModelSignature(Schema([TensorSpec(np.dtype(np.float32), (-1, feature_dim))]), Schema(outputs))


def log_student(
    module: nn.Module, example: np.ndarray, class_names: Sequence[str] = (), metadata: dict | None = None,
    name: str = MODEL_NAME, multi_label: bool = False,
) -> ModelInfo:
    """Log `module` (features in, logits out) to the active run as a StudentModel pyfunc model called `name`
    (`multi_label`: its logits are one sigmoid per class).

    `example` (a few rows of float32 features) gives the signature and the input example. Registering it is
    hg2m.registry.register_challenger's job.
    """
    scripted = torch.jit.script(copy.deepcopy(module).cpu().eval())  # a copy: the caller's module stays as it was
    example = np.ascontiguousarray(example, dtype=np.float32)
    with torch.no_grad():
        logits = scripted(torch.from_numpy(example))
    num_classes = logits.shape[1]
    if class_names and len(class_names) != num_classes:
        raise ValueError(f"{len(class_names)} class names for a model with {num_classes} classes: {list(class_names)}")
    signature = student_signature(example.shape[1], num_classes, bool(class_names))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "student.pt"
        torch.jit.save(scripted, str(path))
        return mlflow.pyfunc.log_model(
            name=name, python_model=StudentModel(example.shape[1], class_names, multi_label),
            artifacts={MODULE_ARTIFACT: str(path)}, signature=signature, input_example=example,
            code_paths=[str(PACKAGE_DIR)], metadata=metadata,
            pip_requirements=pip_requirements(), model_type="student",
        )


def load_student_module(model_uri: str) -> nn.Module:
    """The torch module (features in, logits out) of a logged student, in eval mode on the CPU.

    Versions logged with MLflow's pytorch flavor (before the pyfunc student) load too.
    """
    if "pytorch" in get_model_info(model_uri).flavors:
        return mlflow.pytorch.load_model(model_uri, map_location="cpu").eval()
    return student_model(mlflow.pyfunc.load_model(model_uri), model_uri).module


def student_model(model: mlflow.pyfunc.PyFuncModel, model_uri: str) -> StudentModel:
    """The StudentModel inside a loaded pyfunc model, or an error saying it is something else."""
    try:
        python_model = model.unwrap_python_model()
    except MlflowException:  # a flavor's own pyfunc loader (e.g. mlflow.pytorch), not a PythonModel
        python_model = None
    if not isinstance(python_model, StudentModel):
        raise PredictError(f"{model_uri} is not an hg2m student pyfunc model (versions registered before serving "
                           "hold a bare torch module: register a new one with the distill pipeline)")
    return python_model


def open_parquet(path: Path) -> pq.ParquetFile:
    """The Parquet file at `path`, or a PredictError naming it."""
    if not path.is_file():
        raise PredictError(f"{path}: file not found")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise PredictError(f"{path}: not a readable Parquet file: {err}") from None


def open_node_table(path: Path) -> tuple[pq.ParquetFile, list[str]]:
    """The Parquet file and its feature columns (`feat`, or `feat_idx` + `feat_val`); `id` is required."""
    source = open_parquet(path)
    names = source.schema_arrow.names
    if "id" not in names:
        raise PredictError(f"{path}: no `id` column (columns: {names})")
    if "feat" in names:
        return source, ["feat"]
    if {"feat_idx", "feat_val"} <= set(names):
        return source, ["feat_idx", "feat_val"]
    raise PredictError(f"{path}: no feature columns: expected dense `feat` (list<float32>) or sparse `feat_idx` + "
                       f"`feat_val` (columns: {names})")


def list_values(column: pa.Array, name: str, first_row: int, integers_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Per-row lengths and the flat values of a list column of numbers (integers only, for indices)."""
    if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
            or pa.types.is_fixed_size_list(column.type)):
        raise invalid(f"column `{name}` must hold lists, got {column.type}")
    value_type = column.type.value_type
    if not (pa.types.is_integer(value_type) or (pa.types.is_floating(value_type) and not integers_only)):
        raise invalid(f"column `{name}` must hold lists of {'integers' if integers_only else 'numbers'}, "
                      f"got {column.type}")
    if column.null_count:
        row = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0] + first_row
        raise invalid(f"row {row} (0-based) has a null `{name}`")
    return column.value_lengths().to_numpy(zero_copy_only=False), column.flatten().to_numpy(zero_copy_only=False)


def batch_features(batch: pa.RecordBatch, columns: list[str], feature_dim: int, first_row: int) -> np.ndarray:
    """A batch's features as a dense float32 (n, feature_dim) array, checked."""
    n = batch.num_rows
    if columns == ["feat"]:
        lengths, values = list_values(batch.column("feat"), "feat", first_row)
        wrong = np.flatnonzero(lengths != feature_dim)
        if len(wrong):
            raise invalid(f"expected {feature_dim} features per node, got {lengths[wrong[0]]} in row "
                          f"{wrong[0] + first_row} (0-based)")
        return check_features(values.reshape(n, feature_dim), feature_dim, first_row)
    idx_lengths, idx = list_values(batch.column("feat_idx"), "feat_idx", first_row, integers_only=True)
    val_lengths, val = list_values(batch.column("feat_val"), "feat_val", first_row)
    wrong = np.flatnonzero(idx_lengths != val_lengths)
    if len(wrong):
        raise invalid(f"row {wrong[0] + first_row} (0-based): feat_idx and feat_val differ in length")
    if len(idx) and (idx.min() < 0 or idx.max() >= feature_dim):
        raise invalid(f"feat_idx out of range: the model expects indices 0..{feature_dim - 1}, got "
                      f"{idx.min() if idx.min() < 0 else idx.max()}")
    indptr = np.concatenate([[0], np.cumsum(idx_lengths)])
    dense = sp.csr_matrix((val.astype(np.float32), idx, indptr), shape=(n, feature_dim)).toarray()
    return check_features(dense, feature_dim, first_row)


def predict_parquet(model_uri: str, input_path: Path, output_path: Path, batch_size: int = 10_000) -> int:
    """Predict every node of a Parquet node table; write `id` and the predictions as Parquet. Returns the rows.

    The output appears only when every batch succeeded: it is written to a temporary file beside it
    and renamed at the end.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    source, columns = open_node_table(input_path)
    if not output_path.parent.is_dir():
        raise PredictError(f"{output_path}: the output folder does not exist")
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except MlflowException as err:
        raise PredictError(f"cannot load model {model_uri}: {err.message}") from None
    student = student_model(model, model_uri)
    partial = output_path.with_name(f".{output_path.name}.{os.getpid()}.partial")
    rows, writer = 0, None
    try:
        for batch in source.iter_batches(batch_size=batch_size, columns=["id", *columns]):
            try:
                features = batch_features(batch, columns, student.feature_dim, rows)
                frame = model.predict(features)  # the served path: schema check, then StudentModel.predict
            except MlflowException as err:
                raise PredictError(f"{input_path}: {err.message}") from None
            # built column by column: plain string/int/float types, no pandas metadata in the file
            table = pa.table({"id": batch.column("id"), **{name: frame[name].to_numpy() for name in frame.columns}})
            writer = writer or pq.ParquetWriter(partial, table.schema)
            writer.write_table(table)
            rows += batch.num_rows
        if writer is None:
            raise PredictError(f"{input_path}: no rows")
        writer.close()
        os.replace(partial, output_path)
    finally:
        if writer is not None:
            writer.close()
        partial.unlink(missing_ok=True)
    return rows
