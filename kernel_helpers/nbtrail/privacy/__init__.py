"""Privacy: budgets per dataset spent across runs and people, DP training, pseudonyms.

A dataset's owner sets its privacy budget (``nbtrail budget set DATA --epsilon 3``, or
:func:`set_budget`); every differentially private computation spends from the budget of each
budgeted dataset its data came from, followed through lineage, before it runs, atomically
across processes: :func:`fit` for diffprivlib's models, :func:`statistic` for its tools,
:func:`spend` for your own. The ledger is on the trail's audit chain. :func:`schema_bounds`
takes a model's bounds from a recorded schema. :func:`federated_fit` trains across clients that
keep their rows, with Flower and SecAgg+ secure aggregation (``federated`` extra).
:func:`pseudonymise` replaces identifiers with keyed HMACs before data is logged or shared.
diffprivlib comes with the ``privacy`` extra.

>>> from nbtrail import privacy
>>> privacy.set_budget("data/adult.csv", epsilon=3)                  # doctest: +SKIP
>>> from diffprivlib.models import LogisticRegression                 # doctest: +SKIP
>>> privacy.fit(LogisticRegression(epsilon=1, data_norm=3.8), X, y)   # doctest: +SKIP
<PrivateFit LogisticRegression epsilon 1 from data/adult.csv (spent 1 of 3); bounds pass>
"""

from ..errors import BudgetExceeded, FederationFailed
from ._bounds import PublicBounds, schema_bounds
from ._budgets import budgets, set_budget, spend
from ._curve import utility_curve
from ._federated import FederatedFit, federated_fit, federated_training
from ._fit import PrivateFit, fit, privacy_bounds
from ._pseudonym import pseudonym, pseudonymise
from ._stats import STATISTICS, PrivateStatistic, statistic
from ._utility import utility

__all__ = [
    "STATISTICS",
    "BudgetExceeded",
    "FederatedFit",
    "FederationFailed",
    "PrivateFit",
    "PrivateStatistic",
    "PublicBounds",
    "budgets",
    "federated_fit",
    "federated_training",
    "fit",
    "privacy_bounds",
    "pseudonym",
    "pseudonymise",
    "schema_bounds",
    "set_budget",
    "spend",
    "statistic",
    "utility",
    "utility_curve",
]
