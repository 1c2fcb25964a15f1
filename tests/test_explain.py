"""SHAP explanations of whole pipelines: additivity, the column mapping, the cost guard, views."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

with warnings.catch_warnings():  # shap's import touches a matplotlib API pending deprecation
    warnings.simplefilter("ignore", PendingDeprecationWarning)
    shap = pytest.importorskip("shap")

from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestClassifier,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from nbtrail.checks import CheckResult, Explanation, explain
from nbtrail.datasets import load_adult
from nbtrail.errors import UsageError
from nbtrail.fingerprints import fingerprint
from nbtrail.store import init_trail

TARGET = "income"


@pytest.fixture(scope="module")
def adult():
    train = load_adult("train").sample(2000, random_state=0)
    test = load_adult("test").sample(120, random_state=1)
    X, y = train.drop(columns=TARGET), train[TARGET]
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    return X, y, test.drop(columns=TARGET), cat, num


@pytest.fixture(scope="module")
def hgb(adult):
    X, y, _, cat, _ = adult
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)],
        remainder="passthrough",
    )
    return make_pipeline(pre, HistGradientBoostingClassifier(max_iter=30, random_state=0)).fit(X, y)


@pytest.fixture(scope="module")
def logistic(adult):
    X, y, _, cat, num = adult
    pre = ColumnTransformer(  # numeric first, then sparse one-hot: not the DataFrame's order
        [("num", StandardScaler(), num), ("cat", OneHotEncoder(handle_unknown="ignore"), cat)]
    )
    return make_pipeline(pre, LogisticRegression(max_iter=2000)).fit(X, y)


@pytest.fixture(scope="module")
def naive_bayes(adult):
    X, y, _, cat, _ = adult
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), cat)],
        remainder="passthrough",
    )
    return make_pipeline(pre, GaussianNB()).fit(X, y)


def _adds_up(e: Explanation, expected) -> float:
    return float(np.max(np.abs(e.base_values + e.values.sum(axis=1) - np.asarray(expected))))


def _groups_by_probe(pre, X: pd.DataFrame) -> dict[str, list[int]]:
    """Which transformed columns each original column drives: set it constant, see what moves.

    An independent reference for the mapping (it never looks at the encoders' attributes).
    """
    base = pre.transform(X)
    base = base.toarray() if hasattr(base, "toarray") else np.asarray(base, dtype=float)
    groups = {}
    for c in X.columns:
        moved = X.copy()
        moved[c] = X[c].dropna().iloc[0]
        out = pre.transform(moved)
        out = out.toarray() if hasattr(out, "toarray") else np.asarray(out, dtype=float)
        changed = ~np.all(np.isclose(out, base, equal_nan=True), axis=0)
        groups[c] = list(np.flatnonzero(changed))
    return groups


# -- additivity and the output space ----------------------------------------------------------


def test_hgb_pipeline_contributions_add_up_to_its_log_odds(adult, hgb):
    _, _, Xq, _, _ = adult
    e = explain(hgb, Xq)
    assert isinstance(e, Explanation) and e.status == "pass"
    assert e.output == e.metrics["output"] == "log_odds"
    assert e.metrics["explainer"] == "TreeExplainer"
    assert list(e.values.index) == list(Xq.index)
    assert list(e.values.columns) == list(Xq.columns)  # 14 original features, not 103
    assert _adds_up(e, hgb.decision_function(Xq)) <= 1e-6
    assert e.metrics["max_additivity_error"] <= 1e-6


def test_logistic_pipeline_contributions_add_up_to_its_log_odds(adult, logistic):
    _, _, Xq, _, _ = adult
    e = explain(logistic, Xq, background=50)
    assert e.status == "pass" and e.output == "log_odds"
    assert e.metrics["explainer"] == "LinearExplainer"
    assert set(e.values.columns) == set(Xq.columns)
    assert _adds_up(e, logistic.decision_function(Xq)) <= 1e-6


def test_one_hot_columns_sum_into_their_own_feature(adult):
    X, y, Xq, cat, num = adult
    pre = ColumnTransformer(  # nested pipeline, dropped first level, merged rare levels, NaNs
        [
            ("num", "passthrough", num),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(
                        drop="first",
                        min_frequency=40,
                        handle_unknown="ignore",
                        sparse_output=False,
                    ),
                ),
                cat,
            ),
        ]
    )
    model = make_pipeline(pre, HistGradientBoostingClassifier(max_iter=20, random_state=0))
    with warnings.catch_warnings():  # unseen categories in drop="first": expected here
        warnings.simplefilter("ignore", UserWarning)
        model.fit(X, y)
        e = explain(model, Xq)
        direct = shap.TreeExplainer(model[-1])(model[0].transform(Xq)).values
        groups = _groups_by_probe(model[0], X)
    assert e.metrics["explainer"] == "TreeExplainer"
    assert sum(len(g) for g in groups.values()) == direct.shape[1]
    for feature, columns in groups.items():
        np.testing.assert_allclose(e.values[feature], direct[:, columns].sum(axis=1), atol=1e-12)


def test_random_forest_explains_the_chosen_class_probability(adult):
    X, y, Xq, cat, _ = adult
    pre = ColumnTransformer(  # sparse one-hot: densified for the tree explainer
        [("cat", OneHotEncoder(handle_unknown="ignore"), cat)], remainder="passthrough"
    )
    forest = RandomForestClassifier(20, min_samples_leaf=20, random_state=0)
    model = make_pipeline(pre, forest).fit(X, y)
    rows = list(range(40))
    high = explain(model, Xq, rows=rows)
    low = explain(model, Xq, rows=rows, positive="<=50K")
    assert high.output == low.output == "probability"
    proba = model.predict_proba(Xq.iloc[rows])
    assert _adds_up(high, proba[:, 1]) <= 1e-6 and _adds_up(low, proba[:, 0]) <= 1e-6
    np.testing.assert_allclose(high.values, -low.values, atol=1e-12)


def test_positive_class_flips_the_sign_of_binary_log_odds(adult, hgb):
    _, _, Xq, _, _ = adult
    high, low = explain(hgb, Xq, rows=[0, 1, 2]), explain(hgb, Xq, rows=[0, 1, 2], positive="<=50K")
    np.testing.assert_allclose(low.values, -high.values)
    np.testing.assert_allclose(low.model_output, -hgb.decision_function(Xq.iloc[:3]))


def test_remainder_drop_leaves_the_dropped_columns_out(adult):
    X, y, Xq, cat, _ = adult
    pre = ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(X, y)
    e = explain(model, Xq, background=30)
    assert list(e.values.columns) == cat
    assert _adds_up(e, model.decision_function(Xq)) <= 1e-6


def test_a_bare_estimator_on_a_numeric_frame(adult):
    X, y, Xq, _, num = adult
    model = GradientBoostingClassifier(n_estimators=20, random_state=0).fit(X[num], y)
    e = explain(model, Xq[num], rows=slice(0, 30))
    assert e.metrics["explainer"] == "TreeExplainer" and list(e.values.columns) == num
    assert _adds_up(e, model.decision_function(Xq[num].iloc[:30])) <= 1e-6


# -- the model-agnostic path ------------------------------------------------------------------


def test_another_estimator_is_explained_by_permutation_over_original_features(adult, naive_bayes):
    _, _, Xq, _, _ = adult
    e = explain(naive_bayes, Xq, rows=[3, 7], background=20)
    assert e.metrics["explainer"] == "PermutationExplainer" and e.output == "probability"
    assert list(e.values.columns) == list(Xq.columns)
    assert list(e.values.index) == [Xq.index[3], Xq.index[7]]
    assert _adds_up(e, naive_bayes.predict_proba(Xq.iloc[[3, 7]])[:, 1]) <= 1e-6
    assert e.data["workclass"].tolist() == Xq["workclass"].iloc[[3, 7]].tolist()


def test_preprocessing_that_mixes_columns_falls_back_to_permutation(adult):
    X, y, Xq, _, num = adult
    model = make_pipeline(StandardScaler(), PCA(3), LogisticRegression()).fit(X[num], y)
    e = explain(model, Xq[num], rows=[0, 1], background=20)
    assert e.metrics["explainer"] == "PermutationExplainer" and "not traceable" in e.summary
    assert list(e.values.columns) == num
    assert _adds_up(e, model.predict_proba(Xq[num].iloc[[0, 1]])[:, 1]) <= 1e-6


# -- the cost guard ---------------------------------------------------------------------------


def test_too_many_rows_for_the_budget_are_sampled_and_the_summary_says_so(adult, naive_bayes):
    _, _, Xq, _, _ = adult
    e = explain(naive_bayes, Xq.head(40), background=10, max_seconds=1e-3)
    assert e.status == "pass" and e.metrics["rows"] == 2  # only the timed probe fits
    assert "random sample of 2 of 40 rows" in e.summary and "max_seconds=0.001" in e.summary
    assert set(e.values.index) <= set(Xq.head(40).index)


def test_rows_asked_for_beyond_the_budget_are_refused_with_the_estimate(adult, naive_bayes):
    _, _, Xq, _, _ = adult
    with pytest.raises(UsageError, match=r"about \d+ s .*max_seconds=0.001"):
        explain(naive_bayes, Xq, rows=list(range(40)), background=10, max_seconds=1e-3)


# -- bad input and failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"X": "ndarray"}, "X must be a pandas DataFrame"),
        ({"X": "no_age"}, r"X lacks the model's columns \['age'\]"),
        ({"rows": [0, 500]}, r"rows \[500\] are out of range"),
        ({"rows": [1, 1]}, "more than once"),
        ({"rows": slice(5, 5)}, "selects none"),
        ({"rows": ["a"]}, "integer positions"),
        ({"positive": "yes"}, "positive='yes' is not one of the model's classes"),
        ({"background": 0}, "background must be a positive"),
        ({"max_seconds": 0}, "max_seconds must be a positive"),
    ],
)
def test_bad_input_names_the_parameter(adult, logistic, change, message):
    _, _, Xq, _, _ = adult
    kwargs = dict(change)
    X = {"ndarray": Xq.to_numpy(), "no_age": Xq.drop(columns="age")}.get(kwargs.pop("X", ""), Xq)
    with pytest.raises(UsageError, match=message):
        explain(logistic, X, **kwargs)


def test_an_unfitted_model_is_bad_input(adult):
    _, _, Xq, _, _ = adult
    with pytest.raises(UsageError, match="model must be a fitted"):
        explain(make_pipeline(StandardScaler(), LogisticRegression()), Xq)


class Exotic(ClassifierMixin, BaseEstimator):
    """Fits, then fails to predict: an explainer's failure, not the user's input."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def predict_proba(self, X):
        raise RuntimeError("exotic model cannot score")


def test_an_explainer_failure_is_an_error_result_not_an_exception(adult):
    X, y, Xq, _, num = adult
    model = Exotic().fit(X[num].to_numpy(), y)
    e = explain(model, Xq[num].to_numpy(), rows=[0, 1])
    assert e.status == "error" and "exotic model cannot score" in e.summary
    assert "PermutationExplainer" in e.summary and e.values is None
    with pytest.raises(UsageError, match="holds no per-row values"):
        e.row(0)
    assert "error" in e.to_html() and e.widget().row_picker.disabled


# -- the result, the product, the views -------------------------------------------------------


def test_importance_and_row_tables_follow_the_values(adult, hgb):
    _, _, Xq, _, _ = adult
    e = explain(hgb, Xq)
    means = e.values.abs().mean()
    assert e.importance["rank"].tolist() == list(range(1, 15))
    assert e.importance["mean_abs_shap"].is_monotonic_decreasing
    np.testing.assert_allclose(
        e.importance.set_index("feature")["mean_abs_shap"], means[e.importance["feature"]]
    )
    table = e.row(5)
    assert table["contribution"].abs().is_monotonic_decreasing
    assert table.set_index("feature").loc["age", "value"] == Xq["age"].iloc[5]
    assert table["contribution"].sum() == pytest.approx(
        hgb.decision_function(Xq.iloc[[5]])[0] - e.base_values.iloc[5]
    )
    with pytest.raises(UsageError, match="row i must be a position"):
        e.row(len(Xq))


def test_values_are_a_product_made_from_the_model_and_the_data(adult, hgb):
    _, _, Xq, _, _ = adult
    Xq = Xq.assign(extra=1)[["extra", *Xq.columns]]  # a column the model ignores, first
    e = explain(hgb, Xq, rows=[0, 1, 2])
    assert e.subjects[1].digest == fingerprint(Xq).digest
    assert "extra" not in e.values.columns
    assert e.product.name == "shap_values"
    assert e.product.digest == fingerprint(e.frame()).digest
    assert e.product.inputs == {"model": fingerprint(hgb).digest, "data": fingerprint(Xq).digest}
    assert list(e.frame().columns[-2:]) == ["_base_value", "_model_output"]


def test_recorded_in_a_run_with_the_values_snapshot(adult, hgb, tmp_path):
    _, _, Xq, _, _ = adult
    trail = init_trail(tmp_path)
    try:
        with trail.start_run("explain") as run:
            e = explain(hgb, Xq, rows=list(range(10))).record(run)
        (record,) = trail.checks([run.id])
        assert (record.kind, record.status) == ("explanations", "pass")
        assert [s.role for s in record.subjects] == ["model", "data"]
        artifact = trail.get_artifact(e.product.digest)
        assert artifact is not None and artifact.name == "shap_values"
        again = CheckResult.from_record(trail, record)
        assert again.details["feature"].tolist() == e.importance["feature"].tolist()
        html = again.to_html()  # the static card from the trail alone: bars and first row
        assert f"row {Xq.index[0]}" in html and "mean |SHAP|" in html
        assert trail.verify().ok
    finally:
        trail.close()


def test_static_card_draws_bars_and_the_first_row_without_script(adult, hgb):
    _, _, Xq, _, _ = adult
    html = explain(hgb, Xq, rows=[4, 9]).to_html()
    assert "<script" not in html.lower() and "<meter" in html
    assert f"row {Xq.index[4]}:" in html and "model output" in html and "relationship" in html


def test_the_widget_row_picker_redraws_the_waterfall(adult, hgb):
    _, _, Xq, _, _ = adult
    e = explain(hgb, Xq, rows=[4, 9, 11])
    view = e.widget()
    assert f"row {Xq.index[4]}:" in view.waterfall.value
    view.row_picker.value = 2
    assert f"row {Xq.index[11]}:" in view.waterfall.value
    assert f"{e.model_output.iloc[2]:.4g}" in view.waterfall.value


@pytest.fixture(scope="module")
def iris():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True, as_frame=True)
    return X, y.map({0: "setosa", 1: "versicolor", 2: "virginica"})


@pytest.mark.parametrize(
    ("estimator", "output", "explainer"),
    [
        (HistGradientBoostingClassifier(max_iter=10), "log_odds", "TreeExplainer"),
        (RandomForestClassifier(10, random_state=0), "probability", "TreeExplainer"),
        (LogisticRegression(max_iter=1000), "log_odds", "LinearExplainer"),
        # shap's TreeExplainer refuses multiclass GradientBoosting: permutation takes over
        (GradientBoostingClassifier(n_estimators=10), "probability", "PermutationExplainer"),
    ],
    ids=lambda v: type(v).__name__ if hasattr(v, "fit") else None,
)
def test_a_multiclass_model_explains_the_chosen_class(iris, estimator, output, explainer):
    X, y = iris
    model = estimator.fit(X, y)
    e = explain(model, X, rows=slice(0, 150, 15), positive="virginica", background=20)
    assert e.status == "pass" and (e.output, e.metrics["explainer"]) == (output, explainer)
    rows = X.iloc[0:150:15]
    if output == "probability":
        expected = model.predict_proba(rows)[:, 2]
    else:
        expected = model.decision_function(rows)[:, 2]
    assert _adds_up(e, expected) <= 1e-6
    assert ("refused the model" in e.summary) == (explainer == "PermutationExplainer")


def test_a_regressor_explains_its_raw_prediction(iris):
    from sklearn.ensemble import RandomForestRegressor

    X, _ = iris
    target = X.pop("petal width (cm)") * 1000  # large outputs: the tolerance scales with them
    model = RandomForestRegressor(10, random_state=0).fit(X, target)
    e = explain(model, X)
    assert e.status == "pass" and e.output == "raw"
    assert e.thresholds["max_additivity_error"] == pytest.approx(1e-6 * model.predict(X).max())
    assert _adds_up(e, model.predict(X)) <= e.thresholds["max_additivity_error"]
    with pytest.raises(UsageError, match="applies to classifiers only"):
        explain(model, X, positive=1)


def test_without_shap_the_message_names_the_extra(adult, hgb, monkeypatch):
    import importlib

    from nbtrail.checks import get_check
    from nbtrail.errors import MissingExtra

    assert get_check("explanations").function is explain
    real = importlib.import_module

    def missing(name, *args, **kwargs):
        if name.split(".")[0] == "shap":
            raise ModuleNotFoundError("No module named 'shap'", name="shap")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(MissingExtra, match=r"pip install 'nbtrail\[explain\]'"):
        explain(hgb, adult[2])


def test_under_capture_the_check_and_its_product_are_recorded_as_made(tmp_path):
    import nbtrail

    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(100, 3)), columns=list("abc"))
    trail = init_trail(tmp_path)
    try:
        with nbtrail.track("explain", trail=trail) as run:
            model = LogisticRegression().fit(X, (X["a"] > 0).astype(int))
            e = explain(model, X)
        (record,) = trail.checks([run.id])
        assert record.id == e.record_id and record.kind == "explanations"
        assert trail.get_artifact(e.product.digest).name == "shap_values"
        assert set(e.product.inputs) == {"model", "data"}
        assert trail.verify().ok
    finally:
        trail.close()
