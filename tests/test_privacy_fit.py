"""DP training spends from the budgets of the data it came from, followed through lineage."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytest.importorskip("diffprivlib")

from nbtrail import privacy
from nbtrail.datasets import load_adult
from nbtrail.errors import UsageError
from nbtrail.store import init_trail

SCRIPT = textwrap.dedent(
    """
    import numpy as np, pandas as pd
    import nbtrail
    from nbtrail import privacy
    from diffprivlib.models import LogisticRegression

    def features(frame):
        return (frame[["age", "education_num", "hours_per_week"]].clip(0, 100) / 100).to_numpy()

    with nbtrail.track("first"):
        df = pd.read_csv("adult.csv")
        X, y = features(df), (df["income"] == ">50K").to_numpy()
        print("first", privacy.fit(LogisticRegression(epsilon=1.0, data_norm=1.8), X, y))
        df[df["age"] > 30].to_csv("older.csv", index=False)  # a filtered copy, a new file

    with nbtrail.track("second"):
        older = pd.read_csv("older.csv")
        Xo, yo = features(older), (older["income"] == ">50K").to_numpy()
        print("second", privacy.fit(LogisticRegression(epsilon=1.5, data_norm=1.8), Xo, yo))
        late = LogisticRegression(epsilon=1.0, data_norm=1.8)
        try:
            privacy.fit(late, Xo, yo)
        except privacy.BudgetExceeded as exc:
            print("refused", exc, "fitted:", hasattr(late, "coef_"))
    """
)


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NBTRAIL_HOME", raising=False)
    load_adult("train").sample(3000, random_state=0).to_csv(tmp_path / "adult.csv", index=False)
    init_trail(tmp_path).close()
    return tmp_path


def test_a_filtered_copy_in_a_new_file_spends_from_the_original_budget(project):
    privacy.set_budget("adult.csv", epsilon=3.0)
    (project / "train.py").write_text(SCRIPT)
    done = subprocess.run(
        [sys.executable, "train.py"], cwd=project, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(" ", 1) for line in done.stdout.strip().splitlines())
    assert "from adult.csv (spent 1 of 3); bounds pass" in lines["first"]
    assert "from adult.csv (spent 2.5 of 3)" in lines["second"]
    assert "asked epsilon 1, 0.5 of 3 remains" in lines["refused"]
    assert lines["refused"].endswith("fitted: False")  # refused before anything was fitted
    (budget,) = privacy.budgets("adult.csv")
    assert budget.spent_epsilon == pytest.approx(2.5) and len(budget.spends) == 2
    assert {s["mechanism"] for s in budget.spends} == {"diffprivlib.LogisticRegression.fit"}
    assert all(s["run_id"] for s in budget.spends)


def test_without_bounds_the_bounds_check_fails_naming_what_is_missing(project):
    from diffprivlib.models import GaussianNB, LogisticRegression

    rng = np.random.default_rng(0)
    X, y = rng.random((200, 3)), rng.integers(0, 2, 200)
    result = privacy.fit(GaussianNB(epsilon=1.0), X, y, data="adult.csv")
    assert result.bounds.status == "fail" and "bounds (per-feature" in result.bounds.summary
    given = privacy.fit(LogisticRegression(epsilon=1.0, data_norm=2.0), X, y, data="adult.csv")
    assert given.bounds.status == "pass" and given.budgets == []  # adult.csv has no budget


def test_bad_models_and_epsilons_are_refused_before_anything_is_spent(project):
    from diffprivlib.models import LogisticRegression as DPLogisticRegression
    from sklearn.linear_model import LogisticRegression

    privacy.set_budget("adult.csv", epsilon=1.0)
    X, y = np.random.default_rng(0).random((50, 2)), np.arange(50) % 2
    with pytest.raises(UsageError, match="needs a diffprivlib model.*LogisticRegression"):
        privacy.fit(LogisticRegression(), X, y, data="adult.csv")
    for bad in (0, -1, float("nan"), float("inf"), "x"):
        with pytest.raises(UsageError, match="epsilon"):
            privacy.fit(DPLogisticRegression(data_norm=2.0), X, y, epsilon=bad, data="adult.csv")
    assert privacy.budgets("adult.csv")[0].spends == []


def test_require_budget_refuses_data_without_one(project):
    from diffprivlib.models import LogisticRegression

    (project / "pyproject.toml").write_text("[tool.nbtrail.privacy]\nrequire_budget = true\n")
    X, y = np.random.default_rng(0).random((50, 2)), np.arange(50) % 2
    with pytest.raises(UsageError, match="no privacy budget.*require_budget"):
        privacy.fit(LogisticRegression(epsilon=1.0, data_norm=2.0), X, y, data="adult.csv")
    privacy.set_budget("adult.csv", epsilon=1.0)
    assert privacy.fit(LogisticRegression(epsilon=1.0, data_norm=2.0), X, y, data="adult.csv")


def test_spend_for_your_own_mechanism_and_the_global_accountant_is_untouched(project):
    from diffprivlib.accountant import BudgetAccountant
    from diffprivlib.models import LogisticRegression

    privacy.set_budget("adult.csv", epsilon=2.0, delta=1e-5)
    (status,) = privacy.spend(0.5, 1e-6, data="adult.csv", mechanism="dp-count")
    assert (
        status.spent_epsilon == pytest.approx(0.5) and status.spends[0]["mechanism"] == "dp-count"
    )
    before = BudgetAccountant.load_default(None).spent_budget
    X, y = np.random.default_rng(0).random((50, 2)), np.arange(50) % 2
    privacy.fit(LogisticRegression(epsilon=1.0, data_norm=2.0), X, y, data="adult.csv")
    assert BudgetAccountant.load_default(None).spent_budget == before  # nothing spent in hiding
    with pytest.raises(privacy.BudgetExceeded, match="asked epsilon 1"):
        privacy.spend(1.0, data="adult.csv")


def test_a_statistic_needs_public_bounds_and_spends_from_the_same_budget(project):
    import pandas as pd

    privacy.set_budget("adult.csv", epsilon=1.0)
    ages = pd.read_csv("adult.csv")["age"].to_numpy()
    with pytest.raises(UsageError, match=r"mean needs bounds=\(lo, hi\)"):
        privacy.statistic("mean", ages, epsilon=0.5, data="adult.csv")
    with pytest.raises(UsageError, match="histogram needs range="):
        privacy.statistic("histogram", ages, epsilon=0.5, bins=10, data="adult.csv")
    with pytest.raises(UsageError, match="unknown statistic 'mode'"):
        privacy.statistic("mode", ages, epsilon=0.5, data="adult.csv")
    assert privacy.budgets("adult.csv")[0].spends == []  # refusals spend nothing
    mean = privacy.statistic("mean", ages, epsilon=0.5, bounds=(17, 90), data="adult.csv")
    assert abs(mean.value - ages.mean()) < 5 and mean.budgets[0].spent_epsilon == 0.5
    counts, edges = privacy.statistic(
        "histogram", ages, epsilon=0.5, bins=10, range=(17, 90), data="adult.csv"
    ).value
    assert len(counts) == 10 and len(edges) == 11
    with pytest.raises(privacy.BudgetExceeded):
        privacy.statistic("count_nonzero", ages, epsilon=0.1, data="adult.csv")
    (budget,) = privacy.budgets("adult.csv")
    assert [s["mechanism"] for s in budget.spends] == [
        "diffprivlib.tools.mean",
        "diffprivlib.tools.histogram",
    ]


LINEAGE_CELLS = (
    "%load_ext nbtrail",
    "import numpy as np, pandas as pd\n"
    "from nbtrail import privacy\n"
    "from diffprivlib.models import LogisticRegression",
    'other = pd.read_csv("other.csv")',  # budgeted too, but not what the model learns from
    'adult = pd.read_csv("adult.csv")',
    'adult[adult["age"] > 30].to_csv("older.csv", index=False)',
    'older = pd.read_csv("older.csv")',
    'X = (older[["age", "education_num"]].clip(0, 100) / 100).to_numpy()\n'
    'y = (older["income"] == ">50K").to_numpy()',
    "fitted = privacy.fit(LogisticRegression(epsilon=1.0, data_norm=1.5), X, y)\n"
    "print(fitted.note, [b.name for b in fitted.budgets])",
)


def test_in_a_notebook_only_the_datasets_the_data_came_from_pay(project):
    """X, named in an earlier cell, traces to adult.csv through older.csv: other.csv is spared."""
    from test_capture import execute, notebook, outputs_text

    (project / "other.csv").write_text("a,b\n1,2\n3,4\n")
    privacy.set_budget("adult.csv", epsilon=3.0)
    privacy.set_budget("other.csv", epsilon=3.0)
    nb = execute(notebook(*LINEAGE_CELLS), project)
    assert outputs_text(nb.cells[-1]).strip() == "None ['adult.csv']"
    spent = {b.name: b.spent_epsilon for b in privacy.budgets()}
    assert spent == {"adult.csv": 1.0, "other.csv": 0.0}


def test_the_utility_check_fails_a_model_no_better_than_the_majority_class(project):
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.random((400, 2))
    y = (X[:, 0] > 0.7).astype(int)  # about 30% positives, learnable from the first column
    constant = DummyClassifier(strategy="most_frequent").fit(X, y)
    verdict = privacy.utility(constant, X, y, non_private_accuracy=0.99)
    assert verdict.status == "fail" and "no better than always predicting 0" in verdict.summary
    assert verdict.metrics["predicts_one_class"]
    assert verdict.metrics["majority_rate"] == pytest.approx(1 - y.mean())
    learned = LogisticRegression(C=100).fit(X, y)
    good = privacy.utility(learned, X, y)
    assert good.status == "pass" and good.metrics["lift"] > 0.2
    with pytest.raises(UsageError, match="as many labels as rows"):
        privacy.utility(learned, X, y[:10])


def test_the_utility_curve_spends_each_point_unless_the_data_is_public(project):
    from diffprivlib.models import LogisticRegression

    rng = np.random.default_rng(1)
    X = rng.random((3000, 2))
    y = (X[:, 0] + 0.2 * rng.random(3000) > 0.7).astype(int)

    def make(eps):
        return LogisticRegression(epsilon=eps, data_norm=1.5, random_state=0)

    privacy.set_budget("adult.csv", epsilon=5.0)
    curve = privacy.utility_curve(make, X, y, X, y, epsilons=[0.1, 1.0], data="adult.csv")
    assert list(curve.details["epsilon"]) == [0.1, 1.0] and "spent epsilon 1.1" in curve.summary
    assert privacy.budgets("adult.csv")[0].spent_epsilon == pytest.approx(1.1)
    assert "<img" in curve.to_html() and "<svg" not in curve.to_html()  # drawn as an image
    public = privacy.utility_curve(make, X, y, X, y, epsilons=[10.0, 1.0], public=True)
    assert "declared public: nothing spent" in public.summary
    assert list(public.details["epsilon"]) == [1.0, 10.0]
    assert public.metrics["accuracy_at_10"] > public.metrics["majority_rate"]
    assert privacy.budgets("adult.csv")[0].spent_epsilon == pytest.approx(1.1)  # unchanged
    with pytest.raises(privacy.BudgetExceeded):  # 1.1 + 10 > 5: refused at the second point
        privacy.utility_curve(make, X, y, X, y, epsilons=[1.0, 10.0], data="adult.csv")
    with pytest.raises(UsageError, match="epsilons"):
        privacy.utility_curve(make, X, y, X, y, epsilons=[0.0], public=True)


# -- bounds from a recorded schema ------------------------------------------------------------


NUMERIC = ["age", "education_num", "hours_per_week"]


def _numeric_adult(rows: int = 2000):
    frame = load_adult("train").sample(rows, random_state=1)
    return frame[NUMERIC], (frame["income"] == ">50K").to_numpy()


def test_schema_bounds_fill_the_model_and_warn_when_inferred_from_the_data(project):
    from diffprivlib.models import GaussianNB, LogisticRegression

    from nbtrail import checks

    X, y = _numeric_adult()
    checks.infer_schema(X, range_tolerance=0.0).to_yaml("schema.yaml")
    bounds = privacy.schema_bounds("schema.yaml")
    assert bounds.columns == NUMERIC and not bounds.public
    assert list(bounds.lower) == [X[c].min() for c in NUMERIC]
    assert list(bounds.upper) == [X[c].max() for c in NUMERIC]
    assert bounds.data_norm == pytest.approx(np.sqrt((bounds.upper**2).sum()))
    nb = privacy.fit(GaussianNB(epsilon=1.0), X, y, bounds=bounds)
    assert nb.model.bounds is not None  # filled, so diffprivlib read nothing from the rows
    assert nb.bounds.status == "warn" and "inferred from the data itself" in nb.bounds.summary
    lr = privacy.fit(LogisticRegression(epsilon=1.0), X, y, bounds=bounds)
    assert lr.model.data_norm == pytest.approx(bounds.data_norm)
    assert lr.bounds.status == "warn"
    # The same ranges declared public (a data contract): the check passes and names the file.
    public = privacy.schema_bounds("schema.yaml", public=True)
    verdict = privacy.fit(GaussianNB(epsilon=1.0), X, y, bounds=public).bounds
    assert verdict.status == "pass" and "schema.yaml" in verdict.summary


def test_schema_bounds_clip_rows_outside_the_ranges(project):
    from nbtrail import checks

    X, _ = _numeric_adult(200)
    schema = checks.infer_schema(X.clip(upper=50), range_tolerance=0.0)
    bounds = privacy.schema_bounds(schema, public=True)
    clipped = bounds.clip(X)
    assert clipped.max() <= 50 and (X.to_numpy() > 50).any()
    with pytest.raises(UsageError, match="'age'.* not in the data"):
        bounds.clip(X.drop(columns=["age"]))


def test_schema_bounds_name_a_column_without_a_range(project):
    from nbtrail import checks

    frame = load_adult("train").head(300)[["age", "workclass"]]
    schema = checks.infer_schema(frame)
    with pytest.raises(UsageError, match="column 'workclass' has no finite range"):
        privacy.schema_bounds(schema, ["age", "workclass"])
    with pytest.raises(UsageError, match="no such schema file"):
        privacy.schema_bounds("missing.yaml")
    with pytest.raises(UsageError, match="bounds must come from privacy.schema_bounds"):
        from diffprivlib.models import GaussianNB

        privacy.fit(GaussianNB(epsilon=1.0), frame[["age"]], np.ones(300), bounds=(0, 1))
