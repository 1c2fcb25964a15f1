"""Federated training with secure aggregation: Flower's server and clients on loopback.

:func:`federated_fit` splits the data into partitions (one per client: at random, or by a
column such as ``native_country``), then runs Flower's Deployment Engine on this machine: a
``flower-superlink`` and one ``flower-supernode`` per partition, each its own process group on
127.0.0.1, bounded by a timeout and killed afterwards, whatever happened. The clients train a
logistic regression a few iterations per round on their own partition; the server averages the
updates (FedAvg) through SecAgg+, so it only ever sees their masked sum.

The trail records each partition's fingerprint (never its rows), the rounds as a
``federated_training`` check with the held-out accuracy of every round, and the aggregated
model, derived from every partition. Flower comes with the ``federated`` extra.

Flower's simulation engine would need Ray; the Deployment Engine needs nothing more and is what a
real federation runs, at the price of Flower's polling (about 35 s per SecAgg+ round here).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._optional import require
from ..checks import CheckResult, check, produce
from ..errors import UsageError
from ._federation import Federation

__all__ = ["FederatedFit", "federated_fit", "federated_training"]

_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "nbtrail-federated"
version = "1.0.0"
license = "BSD-3-Clause"
dependencies = []

[tool.hatch.build.targets.wheel]
packages = ["."]

[tool.flwr.app]
publisher = "nbtrail"

[tool.flwr.app.components]
serverapp = "nbtrail_federated:server_app"
clientapp = "nbtrail_federated:client_app"

[tool.flwr.app.config]
{config}
"""

# Flower checks the app by reading assignments in this file, so the apps are assigned here.
_APP = """\
\"\"\"Written by nbtrail.privacy.federated_fit for one run.\"\"\"
from nbtrail.privacy import flower_app

client_app = flower_app.client_app
server_app = flower_app.server_app
"""


@dataclass
class FederatedFit:
    """A model trained by federated averaging with secure aggregation, and how it went.

    Attributes
    ----------
    model : sklearn.linear_model.LogisticRegression
        The aggregated model (classes 0 and 1).
    rounds : pandas.DataFrame
        ``round``, ``loss``, ``accuracy`` on the held-out data after each round (round 0: the
        initial all-zero model).
    partitions : pandas.DataFrame
        ``partition``, ``rows``, ``positive_share``, ``fingerprint``: what each client held.
    seconds : float
        Wall time of the federation, from starting the server to its result.
    check : CheckResult
        The ``federated_training`` check.
    """

    model: object
    rounds: pd.DataFrame
    partitions: pd.DataFrame
    seconds: float
    check: CheckResult | None = None
    secure: dict = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """Held-out accuracy of the final model."""
        return float(self.rounds["accuracy"].iloc[-1])

    def __repr__(self) -> str:
        return (
            f"<FederatedFit {len(self.partitions)} clients, {len(self.rounds) - 1} rounds with "
            f"SecAgg+, accuracy {self.accuracy:.4f}, {self.seconds:.0f} s>"
        )


@check("federated_training", version=1, roles={"model": "model"})
def federated_training(
    model, *, rounds: pd.DataFrame, majority: float, name: str = "federated_training"
) -> CheckResult:
    """Whether the federation learned more than always predicting the majority class."""
    final = float(rounds["accuracy"].iloc[-1])
    status = "pass" if final > majority else "fail"
    summary = (
        f"{len(rounds) - 1} rounds of secure aggregation: held-out accuracy {final:.4f} "
        f"against {majority:.4f} for the majority class"
        + ("" if status == "pass" else ": the federated model learned nothing")
    )
    return CheckResult(
        name, status, summary, {"accuracy": final, "majority": majority}, {}, rounds.copy()
    )


def _labels(y, what: str) -> np.ndarray:
    values = np.asarray(y)
    if values.ndim != 1:
        raise UsageError(f"{what} must be one label per row")
    if values.dtype == bool:
        return values.astype(np.int64)
    kinds = set(pd.unique(values).tolist())
    if not kinds <= {0, 1}:
        raise UsageError(f"{what} must be binary 0/1 or True/False, got values {sorted(kinds)[:5]}")
    return values.astype(np.int64)


def _features(X, what: str) -> np.ndarray:
    try:
        values = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise UsageError(f"{what} must be numeric features (encode them first)") from None
    if values.ndim != 2 or not len(values):
        raise UsageError(f"{what} must be a non-empty table of rows and feature columns")
    if not np.isfinite(values).all():
        raise UsageError(f"{what} holds NaN or infinite values")
    return values


_WHY_THREE = " (SecAgg+ secret-shares each update among 3 clients or more)"


def _split(partitions, n: int, seed: int) -> list[tuple[str, np.ndarray]]:
    """Row positions of each partition, labelled."""
    if isinstance(partitions, int | np.integer) and not isinstance(partitions, bool):
        if partitions < 3:
            raise UsageError(f"partitions must be at least 3 clients{_WHY_THREE}, got {partitions}")
        order = np.random.default_rng(seed).permutation(n)
        return [(str(i), part) for i, part in enumerate(np.array_split(order, int(partitions)))]
    groups = pd.Series(np.asarray(partitions, dtype=object))
    if len(groups) != n:
        raise UsageError(f"partitions: {len(groups)} labels for {n} rows")
    if groups.isna().any():
        raise UsageError("partitions: some rows have no partition label (missing values)")
    found = [(str(key), np.flatnonzero(groups.to_numpy() == key)) for key in pd.unique(groups)]
    if len(found) < 3:
        raise UsageError(
            f"partitions: the labels name {len(found)} group(s); at least 3{_WHY_THREE}"
        )
    return found


def _toml(config: dict) -> str:
    return "\n".join(f"{key} = {json.dumps(value)}" for key, value in config.items())


def federated_fit(
    X,
    y,
    *,
    partitions=3,
    X_test,
    y_test,
    rounds: int = 3,
    local_iterations: int = 5,
    C: float = 1.0,
    clipping_range: float = 16.0,
    seed: int = 0,
    timeout: float = 600.0,
    name: str = "federated_model",
) -> FederatedFit:
    """Train a logistic regression across clients with Flower, FedAvg and SecAgg+.

    Parameters
    ----------
    X, y : features and binary labels
        Numeric features (encode and scale them first, with public bounds for privacy) and 0/1
        or boolean labels. Each client gets only its partition's rows, written to a private
        temporary directory and removed afterwards.
    partitions : int or array-like
        The number of clients (3 or more), rows split at random (``seed``); or one label per
        row (a column such as ``frame["native_country"]``), one client per distinct label.
    X_test, y_test : held-out data
        The server evaluates the aggregated model on it after every round.
    rounds : int
        Federated rounds; each client runs ``local_iterations`` L-BFGS iterations per round.
    C : float
        Inverse regularisation strength, as scikit-learn's.
    clipping_range : float
        SecAgg+'s bound on a weighted update's magnitude; a client whose update would be
        clipped fails the run instead of corrupting the average.
    timeout : float
        Seconds for the whole federation; then every process is killed and
        :class:`FederationFailed` raised.
    name : str
        The model's name on the trail.

    Returns
    -------
    FederatedFit
    """
    require("flwr", purpose="federated training")
    from sklearn.linear_model import LogisticRegression

    sources = {"features": X, "labels": y}  # the caller's objects, as the trail knows them
    if not isinstance(partitions, int | np.integer):
        sources["partition_by"] = partitions
    X, X_test = _features(X, "X"), _features(X_test, "X_test")
    y, y_test = _labels(y, "y"), _labels(y_test, "y_test")
    if len(X) != len(y) or len(X_test) != len(y_test):
        raise UsageError("X and y (and X_test and y_test) must have the same number of rows")
    if X.shape[1] != X_test.shape[1]:
        raise UsageError(f"X has {X.shape[1]} features but X_test has {X_test.shape[1]}")
    for value, what in ((rounds, "rounds"), (local_iterations, "local_iterations")):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise UsageError(f"{what} must be an integer >= 1, got {value!r}")
    for value, what in ((C, "C"), (clipping_range, "clipping_range"), (timeout, "timeout")):
        if not (isinstance(value, int | float) and np.isfinite(value) and value > 0):
            raise UsageError(f"{what} must be a finite number above 0, got {value!r}")
    split = _split(partitions, len(X), seed)
    for label, rows in split:
        if len(set(y[rows].tolist())) < 2:
            raise UsageError(
                f"partition {label!r} holds {len(rows)} rows of a single class; every client "
                "needs both classes to train a logistic regression"
            )
    clients = len(split)
    # SecAgg+ weighs an update by rows / max_weight: the largest partition must fit (libraries.md)
    max_weight = float(max(len(rows) for _, rows in split))
    shares = clients if clients % 2 else clients - 1  # Flower wants it odd, and above 2
    secure = {
        "num-shares": shares,
        "reconstruction-threshold": max(2, shares // 2 + 1),
        "max-weight": max_weight,
        "clipping-range": float(clipping_range),
    }
    root = Path(tempfile.mkdtemp(prefix="nbtrail-federated-"))
    parts = []
    try:
        data = root / "data"
        data.mkdir()
        for i, (label, rows) in enumerate(split):
            np.savez(data / f"part-{i}.npz", X=X[rows], y=y[rows])
            digest = produce((X[rows], y[rows]), name=f"partition {label}", inputs=sources)
            parts.append(
                {
                    "partition": label,
                    "rows": len(rows),
                    "positive_share": float(y[rows].mean()),
                    "fingerprint": digest.digest,
                    "_product": digest,
                }
            )
        np.savez(data / "test.npz", X=X_test, y=y_test)
        out = root / "result.json"
        config = {
            "data-dir": str(data),
            "out-file": str(out),
            "clients": clients,
            "features": int(X.shape[1]),
            "rounds": rounds,
            "local-iterations": local_iterations,
            "C": float(C),
            **secure,
        }
        app = root / "app"
        app.mkdir()
        (app / "pyproject.toml").write_text(_PYPROJECT.format(config=_toml(config)))
        (app / "nbtrail_federated.py").write_text(_APP)
        federation = Federation(root, clients, timeout)
        started = time.perf_counter()
        try:
            federation.start()
            federation.run(app, out)
        finally:
            federation.stop()
        seconds = time.perf_counter() - started
        result = json.loads(out.read_text())
    finally:
        shutil.rmtree(root, ignore_errors=True)
    model = LogisticRegression(C=C)
    model.classes_ = np.array([0, 1])
    model.coef_ = np.array(result["coef"], dtype=float)
    model.intercept_ = np.array(result["intercept"], dtype=float)
    model.n_features_in_ = X.shape[1]
    table = pd.DataFrame(result["rounds"], columns=["round", "loss", "accuracy"])
    produce(model, name=name, inputs={f"partition {p['partition']}": p["_product"] for p in parts})
    majority = float(max(y_test.mean(), 1 - y_test.mean()))
    verdict = federated_training(model, rounds=table, majority=majority)
    partition_table = pd.DataFrame([{k: v for k, v in p.items() if k != "_product"} for p in parts])
    return FederatedFit(model, table, partition_table, seconds, verdict, secure)
