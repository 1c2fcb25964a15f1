"""Producers: work that makes an artifact (an exported model, SHAP values, a card, a schema).

A producer is not a check: it makes something. :func:`produce` records what was made in the
current run, derived from its inputs each in its role, so lineage leads from the product back
to exactly what it was made from. Checks that accept the product (parity of an exported model,
additivity of explanations) are ordinary checks that judge it, and are kept with it on the
returned :class:`Product`, which gates like a check.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .. import recording
from ..errors import GateFailed, UsageError
from ..fingerprints import fingerprint, fingerprint_file
from ..vocabulary import failing, worst
from ._result import CheckResult, SubjectRef

__all__ = ["Product", "produce"]


@dataclass
class Product:
    """An artifact a producer made, its inputs by role, and the checks that accepted it.

    Attributes
    ----------
    name : str
        What it is called (a file's name, ``shap_values``).
    digest : str
        Its fingerprint.
    kind : str
        ``file``, ``dataframe``, ``ndarray``, ``model``...
    inputs : dict
        Role to the fingerprint of the input it was made from.
    path : str or None
        The file, when the product is one.
    checks : list of CheckResult
        Acceptance checks run on it (:meth:`accept` adds them).
    """

    name: str
    digest: str
    kind: str
    inputs: dict = field(default_factory=dict)
    path: str | None = None
    checks: list = field(default_factory=list)

    @property
    def status(self) -> str:
        """The worst status of its acceptance checks (``pass`` without any)."""
        return worst(c.status for c in self.checks)

    def accept(self, result: CheckResult) -> Product:
        """Keep an acceptance check with the product; it must judge the product itself."""
        if not isinstance(result, CheckResult):
            raise UsageError(f"accept() takes a check result, got {type(result).__name__}")
        if self.digest not in {s.digest for s in result.subjects}:
            raise UsageError(
                f"check {result.name!r} does not judge {self.name!r}: "
                "give the product to the check as one of its subjects"
            )
        self.checks.append(result)
        return self

    def raise_for_status(self) -> Product:
        """Raise :class:`~nbtrail.GateFailed` if an acceptance check failed or errored."""
        bad = [c for c in self.checks if failing(c.status)]
        if bad:
            names = ", ".join(repr(c.name) for c in bad)
            raise GateFailed(f"product {self.name!r} was not accepted: {names} did not pass")
        return self

    def __repr__(self) -> str:
        inputs = ", ".join(f"{role} {digest[:12]}" for role, digest in self.inputs.items())
        return (
            f"<Product {self.name!r} {self.kind} {self.digest[:12]} from {inputs or 'nothing'}; "
            f"{len(self.checks)} check(s): {self.status}>"
        )


def _input_digest(obj, recorder, role: str) -> str | None:
    if isinstance(obj, Product | SubjectRef):
        return obj.digest
    if recorder is not None:
        return recorder.subject(obj, name=role)
    return fingerprint(obj).digest


def produce(
    obj,
    *,
    name: str,
    inputs: Mapping | None = None,
    snapshot: bool = False,
    run=None,
) -> Product:
    """Record an artifact made from ``inputs`` in the current run, and return it as a Product.

    Parameters
    ----------
    obj : object or path
        What was made: an object, or a file (a str or path-like) already written.
    name : str
        Its name.
    inputs : mapping, optional
        Role to what it was made from (``{"model": model, "sample": X_test}``); each becomes a
        ``derived`` edge with that role.
    snapshot : bool
        Also store its content so it can be restored.
    run : Run or recorder, optional
        Where to record. Default: the capture session recording this process; without one,
        nothing is recorded and the product is still returned.

    Returns
    -------
    Product
    """
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"a product needs a name, got {name!r}")
    recorder = run if run is not None else recording.active()
    is_file = isinstance(obj, str | os.PathLike)
    if is_file and not Path(obj).is_file():
        raise UsageError(f"product {name!r}: {obj} is not a file")
    digests = {str(role): _input_digest(v, recorder, role) for role, v in (inputs or {}).items()}
    digests = {role: d for role, d in digests.items() if d}
    fp = fingerprint_file(obj) if is_file else fingerprint(obj)
    path = str(Path(obj).resolve()) if is_file else None
    if recorder is not None:
        guard = getattr(recorder, "guard", None)
        if guard is None:
            recorder.produce(obj, name=name, derived_from=digests, snapshot=snapshot)
        else:
            with guard(f"recording product {name}"):
                recorder.produce(obj, name=name, derived_from=digests, snapshot=snapshot)
    return Product(name, fp.digest, fp.kind, digests, path)
