"""The fairness audit: fairlearn's numbers, bootstrap intervals, small cells, views, mitigation."""

from __future__ import annotations

import base64
import re
import warnings
import xml.etree.ElementTree as ET
from functools import partial

import numpy as np
import pandas as pd
import pytest

from nbtrail.checks import disparity_table, fairness, fairness_table
from nbtrail.checks._fairness_view import metric_svg
from nbtrail.datasets import load_adult, load_german
from nbtrail.errors import UsageError
from nbtrail.fingerprints import fingerprint


@pytest.fixture(scope="module")
def adult():
    """An LR pipeline fitted on 3,000 Adult train rows; 4,000 test rows to audit."""
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    train = load_adult("train").sample(3000, random_state=0)
    test = load_adult("test").sample(4000, random_state=1).reset_index(drop=True)
    cat = [c for c in train.columns if train[c].dtype != "int64" and c != "income"]
    num = [c for c in train.columns if train[c].dtype == "int64"]
    pipe = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), cat), (StandardScaler(), num)
        ),
        LogisticRegression(max_iter=1000),
    )
    pipe.fit(train.drop(columns="income"), train["income"])
    return pipe, train, test


def _synthetic(sizes, rates, *, seed=0):
    """Groups with the given sizes, each with its own selection rate; labels are coin flips."""
    rng = np.random.default_rng(seed)
    groups = np.concatenate([[g] * n for g, n in sizes.items()])
    y_true = rng.integers(0, 2, len(groups))
    y_pred = np.concatenate([rng.random(n) < rates[g] for g, n in sizes.items()]).astype(int)
    return y_true, y_pred, pd.Series(groups, name="group")


# -- fairlearn's numbers -----------------------------------------------------------------------


def test_point_estimates_equal_fairlearn_metricframe_intersectional(adult):
    fl = pytest.importorskip("fairlearn.metrics")
    from sklearn.exceptions import UndefinedMetricWarning
    from sklearn.metrics import accuracy_score, precision_score, roc_auc_score

    pipe, _, test = adult
    X, y = test.drop(columns="income"), test["income"]
    result = fairness(model=pipe, X=X, y=y, sensitive_features=["sex", "race"], positive=">50K")
    table = fairness_table(result).set_index("group")
    y_true = (y == ">50K").astype(int).to_numpy()
    y_pred = (pipe.predict(X) == ">50K").astype(int)
    score = pipe.predict_proba(X)[:, 1]
    labels = {
        "selection_rate": fl.selection_rate,
        "tpr": fl.true_positive_rate,
        "fpr": fl.false_positive_rate,
        "fnr": fl.false_negative_rate,
        "precision": partial(precision_score, zero_division=np.nan),
        "accuracy": accuracy_score,
    }
    frame = fl.MetricFrame(
        metrics=labels, y_true=y_true, y_pred=y_pred, sensitive_features=X[["sex", "race"]]
    )
    with warnings.catch_warnings():  # a group with one class: sklearn warns, gives NaN
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        auc = fl.MetricFrame(
            metrics={"roc_auc": roc_auc_score},
            y_true=y_true,
            y_pred=score,
            sensitive_features=X[["sex", "race"]],
        )
    theirs = frame.by_group.join(auc.by_group)
    theirs.index = [", ".join(key) for key in theirs.index]
    assert sorted(theirs.index) == sorted(table.index) and len(table) == 10
    for metric in theirs.columns:
        ours = table.loc[theirs.index, metric].to_numpy(dtype="float64")
        expected = theirs[metric].to_numpy(dtype="float64")
        undefined = np.isnan(ours)  # fairlearn gives 0.0 (tpr, fnr) or NaN for these
        assert np.isnan(expected[undefined]).all() or metric in ("tpr", "fnr"), metric
        assert np.nanmax(np.abs(ours - expected)) <= 1e-12, metric
        if undefined.any():
            assert (table.loc[theirs.index[undefined], "positives"] == 0).all() or metric in (
                "precision",
                "roc_auc",
            )
    dpd = fl.demographic_parity_difference(y_true, y_pred, sensitive_features=X[["sex", "race"]])
    judged = table[table["judged"]]
    assert result.metrics["groups_judged"] == len(judged) < 10  # Female, Amer-Indian is small
    ours_dpd = judged["selection_rate"].max() - judged["selection_rate"].min()
    assert result.metrics["demographic_parity_difference"] == pytest.approx(ours_dpd, abs=1e-12)
    assert ours_dpd <= dpd + 1e-12  # fairlearn also compares the group too small to judge


def test_default_thresholds_are_fairlearns_and_every_disparity_has_an_interval(adult):
    pipe, _, test = adult
    result = fairness(
        model=pipe, X=test, y=test["income"], sensitive_features="sex", positive=">50K"
    )
    assert result.thresholds == {
        "demographic_parity_difference": 0.1,
        "equalized_odds_difference": 0.1,
        "demographic_parity_ratio": 0.8,
    }
    assert result.metrics["n_boot"] == 200 and result.metrics["ci"] == 0.95
    for key in ("demographic_parity", "equalized_odds", "equal_opportunity"):
        for kind in ("difference", "ratio"):
            value = result.metrics[f"{key}_{kind}"]
            assert result.metrics[f"{key}_{kind}_lower"] <= value
            assert value <= result.metrics[f"{key}_{kind}_upper"]
    assert result.metrics["four_fifths"] is False  # women are selected far less often
    assert result.status == "fail" and "demographic parity difference" in result.summary


# -- the bootstrap -----------------------------------------------------------------------------


def test_intervals_are_seeded_reproducible_and_bracket_the_estimate():
    y_true, y_pred, groups = _synthetic({"a": 400, "b": 300}, {"a": 0.5, "b": 0.4})
    first = fairness(y_true, y_pred, sensitive_features=groups, n_boot=100)
    again = fairness(y_true, y_pred, sensitive_features=groups, n_boot=100)
    other = fairness(y_true, y_pred, sensitive_features=groups, n_boot=100, random_state=1)
    pd.testing.assert_frame_equal(first.details, again.details)
    assert not first.details.equals(other.details)
    table = first.details
    for metric in ("selection_rate", "tpr", "fpr", "accuracy"):
        assert (table[f"{metric}_lower"] <= table[metric]).all()
        assert (table[metric] <= table[f"{metric}_upper"]).all()
        assert (table[f"{metric}_upper"] - table[f"{metric}_lower"] > 0).all()
    assert first.metrics["n_boot"] == 100


def test_the_bootstrap_in_blocks_draws_the_same_resamples(monkeypatch):
    import nbtrail.checks._fairness as module

    y_true, y_pred, groups = _synthetic({"a": 400, "b": 300}, {"a": 0.5, "b": 0.4})
    score = np.random.default_rng(0).random(len(y_true))
    whole = fairness(y_true, y_pred, sensitive_features=groups, y_score=score)
    monkeypatch.setattr(module, "_BLOCK_CELLS", 1000)  # blocks of 2 or 3 resamples
    blocks = fairness(y_true, y_pred, sensitive_features=groups, y_score=score)
    pd.testing.assert_frame_equal(whole.details, blocks.details)


def test_a_wider_ci_gives_a_wider_interval_and_n_boot_zero_gives_none():
    y_true, y_pred, groups = _synthetic({"a": 400, "b": 300}, {"a": 0.5, "b": 0.4})
    narrow = fairness(y_true, y_pred, sensitive_features=groups, ci=0.5).metrics
    wide = fairness(y_true, y_pred, sensitive_features=groups, ci=0.99).metrics
    key = "demographic_parity_difference"
    assert (
        wide[f"{key}_upper"] - wide[f"{key}_lower"]
        > narrow[f"{key}_upper"] - narrow[f"{key}_lower"]
    )
    bare = fairness(y_true, y_pred, sensitive_features=groups, n_boot=0)
    assert bare.metrics[f"{key}_lower"] is None and bare.metrics[key] == pytest.approx(narrow[key])
    assert bare.details["selection_rate_lower"].isna().all()


@pytest.mark.parametrize(
    ("rates", "status"),
    [
        ({"a": 0.5, "b": 0.5}, "pass"),
        ({"a": 0.5, "b": 0.41}, "warn"),
        ({"a": 0.7, "b": 0.3}, "fail"),
    ],
)
def test_a_disparity_warns_when_its_interval_straddles_the_threshold(rates, status):
    y_true, y_pred, groups = _synthetic({"a": 2000, "b": 2000}, rates, seed=3)
    result = fairness(
        y_true,
        y_pred,
        sensitive_features=groups,
        max_equalized_odds_difference=None,
        min_selection_ratio=None,
    )
    (row,) = disparity_table(result).dropna(subset=["status"]).to_dict(orient="records")
    assert row["disparity"] == "demographic_parity_difference" and row["status"] == status
    assert result.status == status
    if status == "warn":
        assert row["lower"] <= 0.1 <= row["upper"]


def test_ratio_thresholds_are_minimums():
    y_true, y_pred, groups = _synthetic({"a": 2000, "b": 2000}, {"a": 0.5, "b": 0.3}, seed=3)
    result = fairness(
        y_true,
        y_pred,
        sensitive_features=groups,
        max_demographic_parity_difference=None,
        max_equalized_odds_difference=None,
        min_selection_ratio=0.5,
    )
    row = disparity_table(result).set_index("disparity").loc["demographic_parity_ratio"]
    assert row["direction"] == "min" and row["status"] == "pass" and row["lower"] >= 0.5


# -- small cells, undefined metrics, missing groups ---------------------------------------------


def test_small_groups_are_shown_but_not_judged():
    y_true, y_pred, groups = _synthetic(
        {"big": 500, "also_big": 500, "tiny": 12}, {"big": 0.5, "also_big": 0.5, "tiny": 1.0}
    )
    result = fairness(y_true, y_pred, sensitive_features=groups)
    table = fairness_table(result).set_index("group")
    assert not table.loc["tiny", "judged"] and table.loc["big", "judged"]
    assert "n=12 below min_group_size 30" in table.loc["tiny", "note"]
    assert table.loc["tiny", "selection_rate"] == 1.0  # reported...
    assert result.metrics["demographic_parity_difference"] < 0.1  # ...but not compared
    assert result.metrics["groups"] == 3 and result.metrics["groups_judged"] == 2


def test_a_group_with_few_positives_is_not_judged_and_undefined_metrics_are_nan():
    y_true = np.r_[np.tile([0, 1], 100), np.zeros(50, int)]
    y_pred = np.r_[np.tile([1, 0], 100), np.zeros(50, int)]
    score = np.r_[np.linspace(0, 1, 200), np.full(50, 0.3)]
    groups = ["a"] * 200 + ["b"] * 50
    result = fairness(y_true, y_pred, sensitive_features=groups, y_score=score)
    b = fairness_table(result).set_index("group").loc["b"]
    assert not b["judged"] and "0 positive(s), fewer than 5" in b["note"]
    for metric in ("tpr", "fnr", "precision", "roc_auc"):
        assert np.isnan(b[metric]), metric  # never 0
    assert "no positives: tpr, fnr undefined" in b["note"]
    assert "no predicted positives: precision undefined" in b["note"]
    assert "one class: roc_auc undefined" in b["note"]
    assert b["fpr"] == 0.0 and b["accuracy"] == 1.0
    assert result.status == "warn" and "cannot compare groups" in result.summary
    assert result.metrics["demographic_parity_difference"] is None


def test_missing_sensitive_values_form_their_own_group():
    y_true, y_pred, groups = _synthetic({"a": 200, "b": 200}, {"a": 0.5, "b": 0.5})
    groups = groups.astype(object)
    groups[:60] = None
    result = fairness(y_true, y_pred, sensitive_features=groups)
    table = fairness_table(result)
    assert table["group"].tolist() == ["(missing)", "a", "b"]
    assert table.set_index("group").loc["(missing)", "n"] == 60


def test_intersectional_groups_are_labelled_by_their_values_in_column_order():
    frame = pd.DataFrame({"sex": ["F", "M"] * 100, "race": ["x"] * 100 + ["y"] * 100})
    rng = np.random.default_rng(0)
    result = fairness(rng.integers(0, 2, 200), rng.integers(0, 2, 200), sensitive_features=frame)
    assert fairness_table(result)["group"].tolist() == ["F, x", "F, y", "M, x", "M, y"]


# -- labels and bad input ------------------------------------------------------------------------


def test_string_labels_need_positive_unless_one_is_conventional():
    truth = pd.Series(["<=50K", ">50K"] * 50, name="income")
    groups = ["a", "b"] * 50
    with pytest.raises(UsageError, match=r"which label is positive\? y_true \('income'\) has "):
        fairness(truth, truth, sensitive_features=groups)
    with pytest.raises(UsageError, match=r"'<=50K', '>50K'"):
        fairness(truth, truth, sensitive_features=groups)
    ok = fairness(truth, truth, sensitive_features=groups, positive=">50K")
    assert ok.metrics["selection_rate"] == 0.5
    credit = pd.Series(["good", "bad", "good", "good"] * 25)
    assert fairness(credit, credit, sensitive_features=groups).metrics["selection_rate"] == 0.75
    with pytest.raises(UsageError, match=r"positive='yes' is not one of the labels"):
        fairness(truth, truth, sensitive_features=groups, positive="yes")


def test_bad_input_is_refused_naming_the_culprit():
    n = 100
    groups = ["a", "b"] * 50
    with pytest.raises(UsageError, match=r"y_true \('grade'\) is not a binary target: it has 3"):
        fairness(pd.Series([0, 1, 2] * 33 + [0], name="grade"), [0] * n, sensitive_features=groups)
    with pytest.raises(UsageError, match=r"'age' has 100 distinct values .*pd\.cut"):
        fairness([0, 1] * 50, [0] * n, sensitive_features=pd.Series(range(20, 120), name="age"))
    with pytest.raises(UsageError, match="y_pred has 99 rows but y_true has 100"):
        fairness([0, 1] * 50, [0] * 99, sensitive_features=groups)
    with pytest.raises(UsageError, match="sensitive_features has 99 rows but y_true has 100"):
        fairness([0, 1] * 50, [0] * n, sensitive_features=groups[:99])
    with pytest.raises(UsageError, match=r"y_true has 3 missing value\(s\) of 100"):
        fairness([np.nan] * 3 + [0.0, 1.0] * 48 + [0.0], [0] * n, sensitive_features=groups)
    with pytest.raises(UsageError, match=r"column\(s\) \['sex'\] are not in X"):
        fairness(model=object(), X=pd.DataFrame({"a": [1]}), y=[1], sensitive_features="sex")


class _NoProba:
    def predict(self, X):
        return np.zeros(len(X), dtype=int)


class _Broken(_NoProba):
    def predict(self, X):
        raise RuntimeError("the model is not fitted")


def test_a_model_without_predict_proba_is_refused_only_when_scores_are_asked():
    X = pd.DataFrame({"sex": ["F", "M"] * 50})
    y = [0, 1] * 50
    with pytest.raises(UsageError, match="_NoProba has no predict_proba"):
        fairness(model=_NoProba(), X=X, y=y, sensitive_features="sex", scores=True)
    result = fairness(model=_NoProba(), X=X, y=y, sensitive_features="sex")
    assert "roc_auc" not in result.details.columns and result.metrics["selection_rate"] == 0.0
    assert [s.role for s in result.subjects] == ["model", "data", "sensitive"]


def test_a_model_that_fails_to_predict_gives_an_error_result():
    X = pd.DataFrame({"sex": ["F", "M"] * 50})
    result = fairness(model=_Broken(), X=X, y=[0, 1] * 50, sensitive_features="sex")
    assert result.status == "error"
    assert "_Broken failed to predict: RuntimeError: the model is not fitted" in result.summary


# -- views -------------------------------------------------------------------------------------


def _view_result():
    y_true, y_pred, groups = _synthetic(
        {"<b>&'x": 300, "y": 300, "tiny": 10}, {"<b>&'x": 0.5, "y": 0.3, "tiny": 0.5}
    )
    score = np.random.default_rng(0).random(len(y_true))
    return fairness(y_true, y_pred, sensitive_features=groups, y_score=score, n_boot=50)


def _pictures(page: str) -> list[str]:
    """The SVG drawings a page embeds as data-URL images (inline SVG would not survive
    JupyterLab's sanitiser)."""
    found = re.findall(r"src='data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)'", page)
    return [base64.b64decode(data).decode("utf-8") for data in found]


def test_the_static_view_draws_every_metric_without_script_and_escapes_labels():
    result = _view_result()
    page = result.to_html()
    assert "<script" not in page.lower() and "<svg" not in page  # pictures are images
    svgs = _pictures(page)
    metrics = ["base_rate", "selection_rate", "tpr", "fpr", "fnr", "precision", "accuracy"]
    assert [re.search(r"data-metric='(\w+)'", s).group(1) for s in svgs] == [*metrics, "roc_auc"]
    for svg in svgs:
        ET.fromstring(svg)  # well-formed: labels are escaped
    assert "<b>&'x" not in page and "&lt;b&gt;&amp;&#x27;x" in page
    assert "tiny (not judged)" in svgs[0] and "url(#nbtrail-hatch-base_rate)" in svgs[0]
    assert "demographic parity difference" in page and "≤ 0.1" in page


def test_the_widget_redraws_the_chart_for_the_chosen_metric():
    result = _view_result()
    view = result.widget()
    assert view.metric.description == "metric" and view.metric.value == "selection_rate"
    before = view.chart.value
    assert "data-metric='selection_rate'" in _pictures(before)[0]
    view.metric.value = "fpr"
    assert view.chart.value != before and "data-metric='fpr'" in _pictures(view.chart.value)[0]
    with pytest.raises(KeyError, match="'nope' is not a metric"):
        metric_svg(result, "nope")


def test_the_group_table_exports_to_csv(tmp_path):
    result = _view_result()
    path = tmp_path / "groups.csv"
    fairness_table(result).to_csv(path, index=False)
    back = pd.read_csv(path)
    assert back["group"].tolist() == fairness_table(result)["group"].tolist()
    assert {"n", "judged", "note", "tpr", "tpr_lower", "tpr_upper"} <= set(back.columns)
    with pytest.raises(UsageError, match="not a fairness result"):
        from nbtrail.checks import CheckResult

        fairness_table(CheckResult("other", "pass"))


# -- data ----------------------------------------------------------------------------------------


def test_load_german_decodes_values_and_derives_sex():
    german = load_german()
    assert german.shape == (1000, 22)
    assert german["credit"].value_counts().to_dict() == {"good": 700, "bad": 300}
    assert german["sex"].value_counts().to_dict() == {"male": 690, "female": 310}
    assert german["age"].dtype == "int64" and german["personal_status"].iloc[0] == "male : single"
    assert not german.isna().any().any()


# -- mitigation --------------------------------------------------------------------------------


def test_threshold_mitigation_narrows_the_gap_and_is_recorded_from_the_model(adult, tmp_path):
    pytest.importorskip("fairlearn")
    from nbtrail.checks._mitigate import fairness_mitigate
    from nbtrail.store import init_trail

    pipe, train, test = adult
    X, y = train.drop(columns="income"), train["income"]
    trail = init_trail(tmp_path)
    try:
        with trail.start_run("mitigate") as run:
            done = fairness_mitigate(
                pipe,
                X,
                y,
                sensitive_features="sex",
                positive=">50K",
                X_test=test.drop(columns="income"),
                y_test=test["income"],
                n_boot=50,
                run=run,
            )
        key = "demographic_parity_difference"
        assert done.before.metrics[key] > 0.1 > done.after.metrics[key]
        assert done.accuracy_after < done.accuracy_before  # fairness has a price here
        assert done.check.kind == "fairness_mitigation"
        assert [s.role for s in done.check.subjects] == ["model", "mitigated"]
        assert done.check.metrics[f"{key}_after"] == done.after.metrics[key]
        labels = done.estimator.predict(test.drop(columns="income"))
        assert set(labels) <= {"<=50K", ">50K"}
        assert np.array_equal(labels, done.estimator.predict(test.drop(columns="income")))
        text = repr(done)
        assert "threshold (demographic_parity)" in text and "accuracy" in text
        about_model = trail.checks(artifact=fingerprint(pipe).digest)
        assert {"fairness", "fairness_mitigation"} <= {c.kind for c in about_model}
        assert done.product.inputs["train"] == fingerprint(X).digest
        assert done.product.checks == [done.check]
    finally:
        trail.close()


def test_mitigation_refuses_what_it_cannot_do(adult):
    pytest.importorskip("fairlearn")
    from nbtrail.checks._mitigate import fairness_mitigate

    pipe, train, _ = adult
    X, y = train.drop(columns="income"), train["income"]
    with pytest.raises(UsageError, match="method must be 'threshold' or 'reductions'"):
        fairness_mitigate(pipe, X, y, sensitive_features="sex", method="magic")
    with pytest.raises(UsageError, match="X_test needs sensitive_test"):
        fairness_mitigate(
            pipe, X, y, sensitive_features=X["sex"], positive=">50K", X_test=X, y_test=y
        )
    with pytest.raises(UsageError, match=r"must be the model's second class"):
        fairness_mitigate(pipe, X, y, sensitive_features="sex", positive="<=50K")
    by_values = fairness_mitigate(
        pipe, X, y, sensitive_features=X["sex"].to_numpy(), positive=">50K", n_boot=0
    )
    with pytest.raises(UsageError, match=r"pass predict\(X, sensitive_features=\.\.\.\)"):
        by_values.estimator.predict(X)
    labels = by_values.estimator.predict(X, sensitive_features=X["sex"])
    assert len(labels) == len(X)


def test_reductions_mitigation_retrains_a_pipeline_with_its_sample_weight(adult):
    pytest.importorskip("fairlearn")
    from nbtrail.checks._mitigate import fairness_mitigate

    pipe, train, _ = adult
    sample = train.head(1000)
    done = fairness_mitigate(
        pipe,
        sample.drop(columns="income"),
        sample["income"],
        sensitive_features=sample["sex"],
        method="reductions",
        positive=">50K",
        n_boot=20,
        max_iter=3,
    )
    key = "demographic_parity_difference"
    assert done.after.metrics[key] < done.before.metrics[key]
    inner = done.estimator.mitigator_
    assert inner.sample_weight_name == "logisticregression__sample_weight"
    assert done.estimator.sensitive_columns is None  # values given: predict needs none here
    assert set(done.estimator.predict(sample.drop(columns="income"))) <= {"<=50K", ">50K"}
