"""The trail store: database of facts, hash-chained audit log, content-addressed blobs."""

from ._blobs import BlobStore, FsspecBlobStore, LocalBlobStore, open_blob_store
from ._lineage import Lineage
from ._records import ArtifactRecord, CheckRecord, MetricRecord, RunDetails, RunRecord, Usage
from ._trail import CHECK_STATUSES, RUN_STATUSES, Run, Trail, init_trail, open_trail
from ._verify import Problem, VerifyReport

__all__ = [
    "CHECK_STATUSES",
    "RUN_STATUSES",
    "ArtifactRecord",
    "BlobStore",
    "CheckRecord",
    "FsspecBlobStore",
    "Lineage",
    "LocalBlobStore",
    "MetricRecord",
    "Problem",
    "Run",
    "RunDetails",
    "RunRecord",
    "Trail",
    "Usage",
    "VerifyReport",
    "init_trail",
    "open_blob_store",
    "open_trail",
]
