"""Recording check results: what was judged, in which role, and where the verdict goes.

A registered check (:func:`~nbtrail.checks.check`) ends here: each subject it judged is
fingerprinted (by the capture session when one records, so the lineage it knows is kept), the
result gets its subjects, and the active recorder, if any, records it. A failure to fingerprint
or record never hides the result: it is returned all the same, and capture counts the failure.
"""

from __future__ import annotations

import contextlib
import logging
import os

from .. import recording
from ..errors import FingerprintError
from ..fingerprints import fingerprint, fingerprint_file
from ._result import CheckResult, SubjectRef

__all__ = ["describe_subjects", "finish", "record_result"]

log = logging.getLogger("nbtrail")


def _digest(obj, recorder, label: str) -> str | None:
    """A subject's fingerprint: a path judged is the file's bytes, anything else its content."""
    if isinstance(obj, SubjectRef):
        return obj.digest
    try:
        if recorder is not None:
            return recorder.subject(obj, name=label)
        if isinstance(obj, os.PathLike):
            return fingerprint_file(obj).digest
        return fingerprint(obj).digest
    except FingerprintError:
        return None


def finish(result: CheckResult, subjects) -> CheckResult:
    """Attach the subjects (``(role, object, label)`` triples) and record the result."""
    recorder = recording.active()
    refs = []
    for role, obj, label in subjects:
        digest = _digest(obj, recorder, label)
        if digest is not None:
            refs.append(SubjectRef.of(role, digest, label, obj))
    result.subjects = refs
    if recorder is not None:
        _record(result, recorder, with_objects=False)  # the recorder has seen the subjects
    return result


def record_result(result: CheckResult, run=None) -> CheckResult:
    """Record a result in ``run`` (a Run or any recorder), else in the active recorder.

    Given a run, the subjects still alive are handed over as objects, so the run records
    their artifacts and not only their fingerprints.
    """
    recorder = run if run is not None else recording.active()
    if recorder is None:
        return result
    return _record(result, recorder, with_objects=run is not None)


def _record(result: CheckResult, recorder, *, with_objects: bool) -> CheckResult:
    subjects = [
        (s.role, s.obj if with_objects and s.obj is not None else s.digest) for s in result.subjects
    ]
    fields = {
        "summary": result.summary,
        "metrics": result.metrics,
        "thresholds": result.thresholds,
        "details": result.details if len(result.details) else None,
        "subjects": subjects,
        "kind": result.kind,
        "version": result.version,
        "params": result.params,
    }
    guard = getattr(recorder, "guard", None)  # capture: a failure is counted, never raised
    with guard(f"recording check {result.name}") if guard else contextlib.nullcontext():
        stored = recorder.record_check(result.name, result.status, **fields)
        result.record_id = getattr(stored, "id", stored)
    return result


def describe_subjects(trail, record) -> list[SubjectRef]:
    """A recorded check's subjects with their artifact names and, where known, a file path.

    The path is the artifact's own (a file), or the file it was read from (one derivation
    upstream), so a report can say "train: train_frame (data/train.parquet)".
    """
    pairs = [(s.role, s.artifact_id) for s in record.subjects]
    if not pairs and record.artifact_id:
        pairs = [("subject", record.artifact_id)]
    if not pairs:
        return []
    names = trail.describe_artifacts([digest for _, digest in pairs])
    return [SubjectRef(role, digest, *names.get(digest, (None, None))) for role, digest in pairs]
