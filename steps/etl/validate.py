"""Great Expectations checks on the snapshot; a failure stops the pipeline before any training."""

from typing import Annotated

from zenml import step

from hg2m.data.snapshot import GraphSnapshot
from hg2m.data.validation import validate_snapshot


@step
def validate(snapshot: GraphSnapshot) -> Annotated[dict, "validation_report"]:
    """Raises SnapshotValidationError (naming the file and the failed expectation) on bad data."""
    return validate_snapshot(snapshot)
