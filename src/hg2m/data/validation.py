"""Validate a GraphSnapshot with Great Expectations before anything trains on it.

Every table is checked as two small pandas frames (GE batches), so list columns are never turned
into pandas objects:

* `schema`: one row per column, its name and Arrow type (lists as `list<value type>`), for the
  exact column set and each expected column's type (both from `hg2m.data.snapshot`: `node_columns`,
  `EDGE_COLUMNS` and `SNAPSHOT_COLUMNS`);
* `rows`: the scalar columns (id, label, split, src, dst) plus per-row scalars derived from the
  list columns with pyarrow/numpy (`feat.length`, `feat.nonfinite`, `feat_idx.min`, ...).

Manifest-level consistency (declared types, tables present) is checked in plain Python and
reported in the same format under `manifest.json`. Failures from all files are collected first,
then raised together as one SnapshotValidationError.

Speed: GE's cost is almost all per-expectation overhead, so suites run with the cheap
BOOLEAN_ONLY result format, and only the failed expectations are re-run with SUMMARY for details.

GE logs hundreds of INFO lines unless its logger is quieted: `hg2m.environment.configure_environment()`
does that, and every entry point calls it before this module is imported.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from functools import cache
from typing import Any

import great_expectations as gx
import great_expectations.expectations as gxe
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.core.batch_definition import BatchDefinition
from great_expectations.data_context.types.base import ProgressBarsConfig
from great_expectations.expectations.expectation import Expectation
from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

from hg2m.data.snapshot import (
    EDGE_COLUMNS,
    FEAT_COLUMN,
    FEAT_IDX_COLUMN,
    FEAT_VAL_COLUMN,
    FEATURE_COLUMNS,
    ID_COLUMN,
    LABEL_COLUMN,
    LABELLED_SPLITS,
    MANIFEST_FILE,
    SNAPSHOT_COLUMNS,
    SPLIT_COLUMN,
    SPLITS,
    UNKNOWN_LABEL,
    GraphSnapshot,
    NodeTypeInfo,
    RelationInfo,
    SnapshotManifest,
    manifest_table_paths,
    node_columns,
)

NULL_LIST_LENGTH = -1  # derived `<list column>.length` of a null row, so length checks also catch nulls
NULL_INDEX = -1  # a null inside feat_idx counts as this index, so the range check catches it
# GE notes at INFO, on every context it creates, a temporary folder for a docs site hg2m never builds.
logging.getLogger("great_expectations.data_context.types.base").setLevel(logging.WARNING)
SCHEMA_FRAME, ROWS_FRAME, MANIFEST_FRAME = "schema", "rows", "manifest"
FAST_RESULT_FORMAT, DETAIL_RESULT_FORMAT = "BOOLEAN_ONLY", "SUMMARY"
MAX_SHOWN_VALUES = 5  # unexpected values quoted per failure in the error message
HIDDEN_KWARGS = ("batch_id", "column", "result_format", "ignore_row_if")
LABELLED = f"{LABEL_COLUMN}.labelled"  # derived: the label on labelled splits only


def _type_name(data_type: pa.DataType) -> str:
    """Arrow type name, with lists as list<value type> (Parquet renames the list's child field)."""
    return f"list<{data_type.value_type}>" if pa.types.is_list(data_type) else str(data_type)


# Arrow type name (lists normalised to list<value type>) each column must have: the snapshot's schema.
COLUMN_TYPES = {name: _type_name(data_type) for name, data_type in SNAPSHOT_COLUMNS.items()}

Failure = dict[str, Any]
Check = tuple[str, pd.DataFrame, list[Expectation]]  # (frame name, frame, expectations)


class SnapshotValidationError(ValueError):
    """A snapshot failed validation; the message lists every failed expectation, one per line."""

    def __init__(self, report: dict[str, Any]) -> None:
        self.report = report
        super().__init__(format_report(report))


# --- public entry point ---------------------------------------------------------------------


def validate_snapshot(snapshot: GraphSnapshot) -> dict[str, Any]:
    """Run the GE suites over every table; return the JSON report, or raise SnapshotValidationError."""
    batch_definition = _batch_definition()
    manifest_failures, manifest_evaluated = manifest_checks(snapshot)
    files = {MANIFEST_FILE: _file_report(manifest_evaluated, manifest_failures)}
    for path, checks in _table_checks(snapshot):
        failures = [f for name, frame, exps in checks for f in _run_suite(batch_definition, name, frame, exps)]
        files[path] = _file_report(sum(len(exps) for _, _, exps in checks), failures)
    success = all(file["success"] for file in files.values())
    report = {"snapshot": snapshot.manifest.name, "success": success, "files": files}
    if not success:
        raise SnapshotValidationError(report)
    return report


def format_report(report: dict[str, Any]) -> str:
    """A header, then one line per failed expectation: file, frame, expectation, column, problem."""
    lines = [
        f"  {path}: [{f['frame']}] {f['expectation']}({_signature(f)}): {f['problem']}"
        for path, file in report["files"].items()
        for f in file["failures"]
    ]
    plural = "" if len(lines) == 1 else "s"
    header = f"snapshot {report['snapshot']!r} failed validation ({len(lines)} failed expectation{plural}):"
    return "\n".join([header, *lines])


def _file_report(evaluated: int, failures: list[Failure]) -> dict[str, Any]:
    return {"success": not failures, "evaluated": evaluated, "failures": failures}


def _signature(failure: Failure) -> str:
    column = [f"column={failure['column']}"] if failure["column"] else []
    return ", ".join(column + [f"{k}={v!r}" for k, v in failure["kwargs"].items()])


# --- GE plumbing ----------------------------------------------------------------------------


@cache
def _batch_definition() -> BatchDefinition:
    """An ephemeral context (nothing on disk, built once) with one whole-dataframe pandas batch definition."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("snapshot").add_dataframe_asset("table")
    return asset.add_batch_definition_whole_dataframe("whole")


def _run_suite(
    batch_definition: BatchDefinition, frame_name: str, frame: pd.DataFrame, expectations: list[Expectation]
) -> list[Failure]:
    """Validate one frame; the failed expectations are re-run with SUMMARY results to report what is wrong."""
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    fast = batch.validate(gx.ExpectationSuite(name=frame_name, expectations=expectations), result_format=FAST_RESULT_FORMAT)
    if fast.success:
        return []
    failed = {_key(r.expectation_config) for r in fast.results if not r.success}
    suite = gx.ExpectationSuite(name=frame_name, expectations=[e for e in expectations if _key(e.configuration) in failed])
    results = batch.validate(suite, result_format=DETAIL_RESULT_FORMAT).to_json_dict()["results"]
    return [_ge_failure(r, frame_name) for r in results if not r["success"]]


def _key(config: ExpectationConfiguration) -> str:
    """Identifies an expectation within a suite: its type and arguments (without the batch id)."""
    return repr((config.type, sorted((k, v) for k, v in config.kwargs.items() if k != "batch_id")))


def _ge_failure(result: dict[str, Any], frame_name: str) -> Failure:
    """The parts of one GE expectation result that say what went wrong."""
    config = result["expectation_config"]
    outcome = result.get("result") or {}
    return {
        "frame": frame_name,
        "expectation": config["type"],
        "column": config["kwargs"].get("column"),
        "kwargs": {k: v for k, v in config["kwargs"].items() if k not in HIDDEN_KWARGS},
        "problem": _problem(outcome, result.get("exception_info") or {}),
        "result": outcome,
    }


def _problem(outcome: dict[str, Any], exception_info: dict[str, Any]) -> str:
    """The observed problem of one failed expectation, in words."""
    errors = [e.get("exception_message") for e in exception_info.values() if isinstance(e, dict)]
    errors.append(exception_info.get("exception_message"))
    if any(errors):
        return "error: " + "; ".join(str(e) for e in errors if e)
    parts = []
    if outcome.get("unexpected_count"):
        of_rows = f" of {outcome['element_count']} rows" if "element_count" in outcome else ""
        shown = outcome.get("partial_unexpected_list", [])[:MAX_SHOWN_VALUES]
        rows = outcome.get("partial_unexpected_index_list", [])[:MAX_SHOWN_VALUES]
        at_rows = f" at rows {rows}" if rows else ""
        parts.append(f"{outcome['unexpected_count']}{of_rows} unexpected, e.g. {shown}{at_rows}")
    if outcome.get("partial_missing_list"):
        parts.append(f"missing {outcome['partial_missing_list']}")
    if outcome.get("observed_value") is not None:
        parts.append(f"observed {outcome['observed_value']!r}")
    return ", ".join(parts) or "failed"


# --- manifest-level checks (plain Python) ---------------------------------------------------


def manifest_checks(snapshot: GraphSnapshot) -> tuple[list[Failure], int]:
    """Relation and target types are declared; the tables present are exactly those the manifest lists."""
    manifest, declared = snapshot.manifest, set(snapshot.manifest.node_types)
    ends = [(f"relations[{r.name}].{end}", t) for r in manifest.relations for end, t in _relation_ends(r)]
    ends.append(("target_type", manifest.target_type))
    failures = [
        _manifest_failure("node_type_is_declared", field, f"{t!r} is not among {sorted(declared)}")
        for field, t in ends
        if t not in declared
    ]
    expected, present = set(manifest_table_paths(manifest)), set(snapshot.table_paths())
    if expected != present:
        problem = f"missing {sorted(expected - present)}, unexpected {sorted(present - expected)}"
        failures.append(_manifest_failure("tables_match_manifest", None, problem))
    return failures, len(ends) + 1


def _relation_ends(relation: RelationInfo) -> list[tuple[str, str]]:
    return [("src_type", relation.src_type), ("dst_type", relation.dst_type)]


def _manifest_failure(expectation: str, column: str | None, problem: str) -> Failure:
    return {"frame": MANIFEST_FRAME, "expectation": expectation, "column": column, "kwargs": {}, "problem": problem}


# --- per-table suites -----------------------------------------------------------------------


def _table_checks(snapshot: GraphSnapshot) -> Iterator[tuple[str, list[Check]]]:
    """(file, checks) for every table that the manifest declares and the snapshot holds."""
    manifest = snapshot.manifest
    for node_type, info in manifest.node_types.items():
        if node_type in snapshot.nodes:
            is_target = node_type == manifest.target_type
            yield f"nodes/{node_type}.parquet", _node_checks(snapshot.nodes[node_type], info, is_target, manifest)
    for relation in manifest.relations:
        if relation.name in snapshot.edges:
            counts = [_count(manifest, node_type) for _, node_type in _relation_ends(relation)]
            yield f"edges/{relation.name}.parquet", _edge_checks(snapshot.edges[relation.name], relation, counts)


def _count(manifest: SnapshotManifest, node_type: str) -> int | None:
    info = manifest.node_types.get(node_type)
    return info.count if info else None


def _node_checks(table: pa.Table, info: NodeTypeInfo, is_target: bool, manifest: SnapshotManifest) -> list[Check]:
    """Schema, row count, id range/uniqueness, features, and label/split on the target type."""
    expected = node_columns(info.feature_format, is_target)
    rows = _rows_frame(table)
    exps = [gxe.ExpectTableRowCountToEqual(value=info.count), *_id_expectations(rows, info.count)]
    exps += _feature_expectations(rows, info)
    if is_target:
        exps += _target_expectations(rows, highest_label(manifest))
    return [_schema_check(table, expected), (ROWS_FRAME, rows, exps)]


def _edge_checks(table: pa.Table, relation: RelationInfo, counts: list[int | None]) -> list[Check]:
    """Schema, edge count, non-null endpoints within their node types' id ranges."""
    rows = _rows_frame(table)
    exps: list[Expectation] = [gxe.ExpectTableRowCountToEqual(value=relation.num_edges)]
    for column, count in zip(EDGE_COLUMNS, counts):
        if column in rows:
            exps += _not_null_between(column, 0, None if count is None else count - 1)
    return [_schema_check(table, EDGE_COLUMNS), (ROWS_FRAME, rows, exps)]


def _schema_check(table: pa.Table, expected: tuple[str, ...]) -> Check:
    """Exact column set and each expected column's Arrow type, on a frame of one row per column."""
    types = [_type_name(table.schema.field(i).type) for i in range(table.num_columns)]
    frame = pd.DataFrame({"column": table.column_names, "type": types})
    frame.loc[~frame["column"].isin(expected), "type"] = None  # unexpected columns: reported by the set check
    exps: list[Expectation] = [
        gxe.ExpectColumnDistinctValuesToEqualSet(column="column", value_set=list(expected)),
        gxe.ExpectColumnPairValuesToBeInSet(
            column_A="column",
            column_B="type",
            value_pairs_set=[(c, COLUMN_TYPES[c]) for c in expected],
            ignore_row_if="either_value_is_missing",
        ),
    ]
    return SCHEMA_FRAME, frame, exps


def _not_null_between(column: str, low: int, high: int | None) -> list[Expectation]:
    """Not null, and within [low, high] unless high is unknown; an empty range (0 nodes) admits no value."""
    exps: list[Expectation] = [gxe.ExpectColumnValuesToNotBeNull(column=column)]
    if high is not None and high < low:
        exps.append(gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[]))
    elif high is not None:
        exps.append(gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high))
    return exps


def _id_expectations(rows: pd.DataFrame, count: int) -> list[Expectation]:
    """Ids are a permutation of 0..count-1 (together with the row count check)."""
    # Unique ids also make train/val/test disjoint: each node is one row with one split value.
    if ID_COLUMN not in rows:
        return []
    return [*_not_null_between(ID_COLUMN, 0, count - 1), gxe.ExpectColumnValuesToBeUnique(column=ID_COLUMN)]


def _feature_expectations(rows: pd.DataFrame, info: NodeTypeInfo) -> list[Expectation]:
    """Dense: feature_dim finite values per row. Sparse: paired lengths, indices in range, finite values."""
    checks = {
        f"{FEAT_COLUMN}.length": lambda c: gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[info.feature_dim]),
        f"{FEAT_VAL_COLUMN}.length": lambda c: gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0),
        f"{FEAT_IDX_COLUMN}.min": lambda c: gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0),
        f"{FEAT_IDX_COLUMN}.max": lambda c: gxe.ExpectColumnValuesToBeBetween(column=c, max_value=info.feature_dim - 1),
        f"{FEAT_COLUMN}.nonfinite": lambda c: gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0]),
        f"{FEAT_VAL_COLUMN}.nonfinite": lambda c: gxe.ExpectColumnValuesToBeInSet(column=c, value_set=[0]),
    }
    expected = FEATURE_COLUMNS[info.feature_format]  # derived columns of unexpected lists: not checked
    exps = [make(c) for c, make in checks.items() if c in rows and c.split(".")[0] in expected]
    idx_length, val_length = f"{FEAT_IDX_COLUMN}.length", f"{FEAT_VAL_COLUMN}.length"
    if info.feature_format == "sparse" and idx_length in rows and val_length in rows:
        exps.append(gxe.ExpectColumnPairValuesToBeEqual(column_A=idx_length, column_B=val_length))
    return exps


def highest_label(manifest: SnapshotManifest) -> int:
    """The largest valid label: class C-1, or with multi_label the bitmask of every class."""
    return 2**manifest.num_classes - 1 if manifest.multi_label else manifest.num_classes - 1


def _target_expectations(rows: pd.DataFrame, highest: int) -> list[Expectation]:
    """Labels in [UNKNOWN_LABEL, highest] and known on labelled splits; split values valid; labelled splits
    non-empty."""
    exps: list[Expectation] = []
    if LABEL_COLUMN in rows:
        exps += _not_null_between(LABEL_COLUMN, UNKNOWN_LABEL, highest)
    if LABELLED in rows:
        exps.append(gxe.ExpectColumnValuesToBeBetween(column=LABELLED, min_value=0))
    if SPLIT_COLUMN in rows:
        exps += [
            gxe.ExpectColumnValuesToNotBeNull(column=SPLIT_COLUMN),
            gxe.ExpectColumnValuesToBeInSet(column=SPLIT_COLUMN, value_set=list(SPLITS)),
            gxe.ExpectColumnDistinctValuesToContainSet(column=SPLIT_COLUMN, value_set=list(LABELLED_SPLITS)),
        ]
    return exps


# --- derived per-row frame ------------------------------------------------------------------


def _rows_frame(table: pa.Table) -> pd.DataFrame:
    """Scalar columns as they are; list columns as per-row scalars (length, non-finite count, index range)."""
    lists = [c for c in table.column_names if pa.types.is_list(table.schema.field(c).type)]
    frame = table.drop_columns(lists).to_pandas()
    for name in lists:
        column = table.column(name).combine_chunks()
        frame[f"{name}.length"] = pc.list_value_length(column).fill_null(NULL_LIST_LENGTH).to_numpy()
        if name == FEAT_IDX_COLUMN and pa.types.is_integer(column.type.value_type):
            frame[f"{name}.min"], frame[f"{name}.max"] = _row_min_max(column)
        elif pa.types.is_floating(column.type.value_type):
            frame[f"{name}.nonfinite"] = _row_nonfinite(column)
    if LABEL_COLUMN in frame and SPLIT_COLUMN in frame:
        # label of the nodes in the labelled splits only (null elsewhere, which between-checks skip)
        frame[LABELLED] = frame[LABEL_COLUMN].where(frame[SPLIT_COLUMN].isin(LABELLED_SPLITS))
    return frame


def _row_nonfinite(column: pa.ListArray) -> np.ndarray:
    """Per row, how many values are NaN, inf or null."""
    finite = pc.is_finite(pc.list_flatten(column)).fill_null(False).to_numpy(zero_copy_only=False)
    parents = pc.list_parent_indices(column).to_numpy()
    return np.bincount(parents[~finite], minlength=len(column))


def _row_min_max(column: pa.ListArray) -> tuple[pd.Series, pd.Series]:
    """Per row, the smallest and largest index; null for rows without indices."""
    values = pc.list_flatten(column).fill_null(NULL_INDEX).to_numpy().astype(np.int64)
    parents = pc.list_parent_indices(column).to_numpy()
    low, high = np.zeros(len(column), np.int64), np.zeros(len(column), np.int64)
    empty = np.ones(len(column), bool)
    if len(values):
        starts = np.flatnonzero(np.diff(parents, prepend=-1))  # parents are sorted: one segment per row
        rows = parents[starts]
        low[rows], high[rows] = np.minimum.reduceat(values, starts), np.maximum.reduceat(values, starts)
        empty[rows] = False
    return pd.Series(pd.arrays.IntegerArray(low, empty.copy())), pd.Series(pd.arrays.IntegerArray(high, empty))
