"""Full-content fingerprints of data, models and files.

A fingerprint is the XXH3-128 digest of an object's whole content, never a sample:
every row, every byte, every fitted array. It is stable across processes, machines and runs
because it is computed from a canonical byte stream, not from ``pickle`` or ``id()``:

* The object is walked into a stream of tokens: small values are written inline (type tag,
  length, bytes); large buffers (>= 1 MiB, e.g. a numeric column) are replaced by their own
  digest. Buffers over 16 MiB are hashed as a fixed tree of 16 MiB blocks. Because the tree
  shape is part of the definition, the result does not depend on how many threads hashed it;
  large objects are hashed on all cores.
* DataFrames hash column by column (names, dtypes, values), so the result does not depend on
  pandas' internal block layout. Strings backed by Arrow hash their offsets and bytes
  directly; nullable types hash their values with masked slots zeroed, plus the mask.
* Wide frames read their plain numeric columns from pandas' 2D blocks (one per dtype)
  instead of one ``iloc`` per column; the token stream, and so the digest, is unchanged.
* polars DataFrames/Series and Arrow Tables, RecordBatches, ChunkedArrays and Arrays hash
  their Arrow buffers column by column (validity, values, offsets normalised for slices), so
  chunking and slicing do not matter; a polars frame and its ``to_arrow()`` table share a
  digest, a pandas frame of the same values does not (its index and dtypes are part of it).
* Fitted scikit-learn estimators hash their class, parameters and fitted state (``coef_``,
  trees' node arrays, private state such as a booster's ``_predictors``) field by field, so
  padding bytes and pickle's memo order cannot change the result. Timing attributes of searches
  (``refit_time_``, ``*_time`` in ``cv_results_``) are left out: they differ on every fit.
* Files hash their raw bytes (so the digest equals ``xxhsum -H2``), memory-mapped, with a stat
  cache keyed by device, inode, size, mtime_ns and ctime_ns so an unchanged file is not read
  again.

The schema fingerprint covers only names and dtypes: two batches of the same table share it.
"""

from ._columnar import is_columnar
from ._core import ALGORITHM, Fingerprint, digest_bytes
from ._files import StatCache, fingerprint_file
from ._objects import fingerprint, schema_fingerprint

__all__ = [
    "ALGORITHM",
    "Fingerprint",
    "StatCache",
    "digest_bytes",
    "fingerprint",
    "fingerprint_file",
    "is_columnar",
    "schema_fingerprint",
]
