"""The trail store: database of facts, hash-chained audit log, content-addressed blobs.

Everything above the store writes through its write API: validated facts (:class:`NewRun`,
:class:`RunEnd`, :class:`NewCheck`...) added to a :class:`Batch`, or the :class:`Run` handle.
Nothing outside this package builds a row of the schema.
"""

from ._batch import Batch
from ._blobs import BlobStore, FsspecBlobStore, LocalBlobStore, open_blob_store
from ._facts import (
    NewArtifact,
    NewCheck,
    NewEdge,
    NewMetric,
    NewRun,
    RunEnd,
    RunUpdate,
    check_metrics,
    notebook_key,
)
from ._ledger import (
    BudgetStatus,
    NewBudget,
    budget_status,
    check_epsilon,
    compose,
    set_budget,
    spend,
)
from ._lineage import Lineage
from ._listeners import add_run_listener, remove_run_listener
from ._open import init_trail, open_or_create_trail, open_trail
from ._records import (
    ArtifactRecord,
    CheckRecord,
    MetricRecord,
    RunDetails,
    RunRecord,
    Subject,
    Usage,
)
from ._registry import REGISTRY_VERBS, NewRegistryFact, registry_history, write_registry
from ._run import Run
from ._snapshot import table_parquet
from ._trail import Trail
from ._verify import Problem, VerifyReport

__all__ = [
    "REGISTRY_VERBS",
    "ArtifactRecord",
    "Batch",
    "BlobStore",
    "BudgetStatus",
    "CheckRecord",
    "FsspecBlobStore",
    "Lineage",
    "LocalBlobStore",
    "MetricRecord",
    "NewArtifact",
    "NewBudget",
    "NewCheck",
    "NewEdge",
    "NewMetric",
    "NewRegistryFact",
    "NewRun",
    "Problem",
    "Run",
    "RunDetails",
    "RunEnd",
    "RunRecord",
    "RunUpdate",
    "Subject",
    "Trail",
    "Usage",
    "VerifyReport",
    "add_run_listener",
    "budget_status",
    "check_epsilon",
    "check_metrics",
    "compose",
    "init_trail",
    "notebook_key",
    "open_blob_store",
    "open_or_create_trail",
    "open_trail",
    "registry_history",
    "remove_run_listener",
    "set_budget",
    "spend",
    "table_parquet",
    "write_registry",
]
