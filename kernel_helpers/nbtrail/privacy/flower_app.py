"""The Flower apps of :func:`nbtrail.privacy.federated_fit`: logistic regression, FedAvg, SecAgg+.

Flower's SuperNodes import ``client_app`` and its SuperLink ``server_app`` (this module is named
by the app :func:`~nbtrail.privacy.federated_fit` writes; nothing else imports it, so flwr is
imported here at module level). Each client reads only its own partition; the server sees only
the securely aggregated sum of the clients' updates (SecAgg+: masked, secret-shared vectors).

Two of Flower's silent failures are made loud (``libraries.md``):

- SecAgg+ multiplies each update by ``rows / max_weight`` and clips it to ``clipping_range``
  before quantizing; a client whose update would be clipped or whose rows exceed ``max_weight``
  only logs a warning in Flower and the aggregate becomes garbage. Here the client refuses.
- SecAgg+ tolerates dropped clients down to the reconstruction threshold, so a failed client
  silently shrinks the federation. Here the server's strategy fails the round instead.
"""

from __future__ import annotations

import json
import os
import warnings

import numpy as np
from flwr.client import ClientApp, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.common import Context, ndarrays_to_parameters
from flwr.server import Grid, LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

__all__ = ["client_app", "server_app"]


def _load(path: str):
    with np.load(path) as data:
        return data["X"], data["y"]


def _model(parameters, local_iterations: int, C: float) -> LogisticRegression:
    model = LogisticRegression(max_iter=local_iterations, warm_start=True, C=C)
    model.classes_ = np.array([0, 1])
    model.coef_ = np.array(parameters[0], dtype=float).copy()
    model.intercept_ = np.array(parameters[1], dtype=float).copy()
    return model


def _score(model: LogisticRegression, X, y) -> tuple[float, float]:
    proba = np.clip(model.predict_proba(X)[:, 1], 1e-12, 1 - 1e-12)
    loss = float(-np.mean(y * np.log(proba) + (1 - y) * np.log(1 - proba)))
    return loss, float(np.mean((proba >= 0.5) == y))


class _Client(NumPyClient):
    def __init__(self, context: Context):
        self.config = context.run_config
        part = int(context.node_config["partition-id"])
        self.X, self.y = _load(os.path.join(str(self.config["data-dir"]), f"part-{part}.npz"))
        self.part = part

    def fit(self, parameters, config):
        model = _model(parameters, int(self.config["local-iterations"]), float(self.config["C"]))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)  # a few iterations per round
            model.fit(self.X, self.y)
        update = [model.coef_, model.intercept_]
        rows = len(self.y)
        max_weight = float(self.config["max-weight"])
        clipping = float(self.config["clipping-range"])
        if rows > max_weight:
            raise ValueError(
                f"partition {self.part}: {rows} rows exceed SecAgg+ max_weight {max_weight:g}"
            )
        largest = max(float(np.abs(a).max()) for a in update) * rows / max_weight
        if largest > clipping:
            raise ValueError(
                f"partition {self.part}: an update of {largest:.3g} would be clipped to "
                f"clipping_range {clipping:g}; raise clipping_range"
            )
        return update, rows, {}

    def evaluate(self, parameters, config):
        model = _model(parameters, 1, 1.0)
        loss, accuracy = _score(model, self.X, self.y)
        return loss, len(self.y), {"accuracy": accuracy}


client_app = ClientApp(
    client_fn=lambda context: _Client(context).to_client(), mods=[secaggplus_mod]
)


class _AllOrNothing(FedAvg):
    """FedAvg that fails a round in which any client failed, instead of averaging the rest."""

    def __init__(self, *, clients: int, **kwargs):
        super().__init__(**kwargs)
        self.clients = clients
        self.aggregated: list[int] = []

    def aggregate_fit(self, server_round, results, failures):
        if failures or len(results) < self.clients:
            reasons = "; ".join(
                str(f if isinstance(f, BaseException) else "failed") for f in failures
            )
            raise RuntimeError(
                f"round {server_round}: {len(results)} of {self.clients} clients returned an "
                f"update ({reasons or 'missing'}); nothing aggregated"
            )
        self.aggregated.append(server_round)
        return super().aggregate_fit(server_round, results, failures)


server_app = ServerApp()


@server_app.main()
def _main(grid: Grid, context: Context) -> None:
    config = context.run_config
    clients = int(config["clients"])
    features = int(config["features"])
    X_test, y_test = _load(os.path.join(str(config["data-dir"]), "test.npz"))
    rounds: list[dict] = []
    latest: list = []

    def evaluate(server_round, parameters, _config):
        latest[:] = parameters  # evaluated after every aggregation: the last is the final model
        loss, accuracy = _score(_model(parameters, 1, 1.0), X_test, y_test)
        rounds.append({"round": server_round, "loss": loss, "accuracy": accuracy})
        return loss, {"accuracy": accuracy}

    strategy = _AllOrNothing(
        clients=clients,
        fraction_fit=1.0,
        fraction_evaluate=0.0,  # the server's held-out evaluation is the one reported
        min_fit_clients=clients,
        min_available_clients=clients,
        initial_parameters=ndarrays_to_parameters([np.zeros((1, features)), np.zeros(1)]),
        evaluate_fn=evaluate,
    )
    legacy = LegacyContext(
        context=context,
        config=ServerConfig(num_rounds=int(config["rounds"])),
        strategy=strategy,
    )
    secure = SecAggPlusWorkflow(
        num_shares=int(config["num-shares"]),
        reconstruction_threshold=int(config["reconstruction-threshold"]),
        max_weight=float(config["max-weight"]),
        clipping_range=float(config["clipping-range"]),
    )
    DefaultWorkflow(fit_workflow=secure)(grid, legacy)
    # SecAgg+ halts a round it cannot complete with a log line and goes on to the next one
    # (which it evaluates all the same, on the unchanged model).
    done = strategy.aggregated
    if done != list(range(1, int(config["rounds"]) + 1)):
        raise RuntimeError(
            f"secure aggregation completed rounds {done} of {int(config['rounds'])}: "
            "a client failed or dropped out"
        )
    out = {
        "rounds": rounds,
        "coef": np.asarray(latest[0]).tolist(),
        "intercept": np.asarray(latest[1]).tolist(),
    }
    target = str(config["out-file"])
    with open(target + ".tmp", "w") as handle:
        json.dump(out, handle)
    os.replace(target + ".tmp", target)
