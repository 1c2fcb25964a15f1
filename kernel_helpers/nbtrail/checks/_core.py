"""Recording check results: what was judged, in which role, and where the verdict goes.

A registered check (:func:`~nbtrail.checks.check`) ends here: each subject it judged is
fingerprinted (by the capture session when one records, so the lineage it knows is kept), the
result gets its subjects, and the active recorder, if any, records it. A failure to fingerprint
or record never hides the result: it is returned all the same, and capture counts the failure.
"""

from __future__ import annotations

import logging

from .. import recording
from ..errors import FingerprintError
from ..fingerprints import fingerprint
from ._result import CheckResult, SubjectRef

__all__ = ["describe_subjects", "finish", "record_result"]

log = logging.getLogger("nbtrail")


def _digest(obj, recorder, label: str) -> str | None:
    if isinstance(obj, SubjectRef):
        return obj.digest
    try:
        if recorder is not None:
            return recorder.subject(obj, name=label)
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
            refs.append(SubjectRef(role, digest, label))
    result.subjects = refs
    if recorder is not None:
        record_result(result, recorder)
    return result


def record_result(result: CheckResult, run=None) -> CheckResult:
    """Record a result in ``run`` (a Run or any recorder), else in the active recorder."""
    recorder = run if run is not None else recording.active()
    if recorder is None:
        return result
    fields = {
        "summary": result.summary,
        "metrics": result.metrics,
        "thresholds": result.thresholds,
        "details": result.details if len(result.details) else None,
        "subjects": [(s.role, s.digest) for s in result.subjects],
        "kind": result.kind,
        "version": result.version,
        "params": result.params,
    }
    if run is not None:
        stored = run.record_check(result.name, result.status, **fields)
        result.record_id = getattr(stored, "id", stored)
        return result
    guard = getattr(recorder, "guard", None)
    if guard is None:
        result.record_id = recorder.record_check(result.name, result.status, **fields)
        return result
    with guard(f"recording check {result.name}"):
        result.record_id = recorder.record_check(result.name, result.status, **fields)
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
