"""The lab's memory: one SQLite file (sqlite-utils), schema migrations, one writer, read-only readers."""

from .errors import StoreError
from .lab import LabStore
from .names import validate_name
from .reader import LabReader
from .records import (
    HOST_KEY, JOB_KEY, DatasetRecord, EpochReport, HistoryMatrix, HostRecord, JobRecord, JobState, KeySource,
    PinnedKey, TaskRecord,
)
from .schema import schema_version
from .summary import UpperBounds

__all__ = [
    "HOST_KEY", "JOB_KEY", "DatasetRecord", "EpochReport", "HistoryMatrix", "HostRecord", "JobRecord", "JobState",
    "KeySource", "LabReader", "LabStore", "PinnedKey", "StoreError", "TaskRecord", "UpperBounds", "schema_version",
    "validate_name",
]
