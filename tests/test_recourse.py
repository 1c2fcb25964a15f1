"""Counterfactual recourse: verified, actionable, minimal changes, and their cost by group."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbtrail.checks import RecourseResult, recourse
from nbtrail.errors import UsageError

LEVELS = {"low": 1, "mid": 2, "high": 3}


class Scored:
    """A tiny classifier: accepted ("yes") when ``fn(frame) > 0``; proba is its logistic."""

    classes_ = np.array(["no", "yes"])

    def __init__(self, fn):
        self.fn = fn
        self.calls = 0

    def predict_proba(self, frame):
        self.calls += 1
        p = 1 / (1 + np.exp(-np.asarray(self.fn(frame), dtype="float64")))
        return np.column_stack([1 - p, p])

    def predict(self, frame):
        return self.classes_[(self.predict_proba(frame)[:, 1] > 0.5).astype(int)]


def _x_or_c(frame):
    return frame["x"] + 5 * (frame["cat"] == "c") - 9.5


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    level = rng.choice(list(LEVELS), 300)
    return pd.DataFrame(
        {
            "x": rng.integers(0, 21, 300),
            "cat": rng.choice(["a", "b", "c"], 300),
            "sex": rng.choice(["F", "M"], 300),
            "level": level,
            "level_num": [LEVELS[v] for v in level],
        }
    )


def _rows(data, **values):
    row = {"x": 4, "cat": "a", "sex": "F", "level": "low", "level_num": 1, **values}
    return pd.DataFrame([row]).astype(data.dtypes.to_dict())


def test_single_change_is_pulled_back_to_the_smallest_that_flips(data):
    result = recourse(Scored(_x_or_c), _rows(data), data=data, n=1)
    cf = result.counterfactuals
    assert isinstance(result, RecourseResult) and result.kind == "recourse"
    assert len(cf) == 1 and cf.loc[0, "x"] == 10 and cf.loc[0, "n_changed"] == 1
    assert (cf.loc[0, ["cat", "level"]] == ["a", "low"]).all()
    found = result.details[result.details["kind"] == "counterfactual"]
    assert found["changes"].tolist() == ["x: 4 -> 10"]


def test_ranges_force_a_second_change_and_keep_numeric_values_inside(data):
    result = recourse(Scored(_x_or_c), _rows(data), data=data, ranges={"x": (0, 8)}, n=1)
    cf = result.counterfactuals.iloc[0]
    assert (cf["cat"], cf["x"], cf["n_changed"]) == ("c", 5, 2)


def test_monotone_decrease_leaves_no_recourse_and_lists_the_row(data):
    rows = _rows(data, cat="b")
    model = Scored(lambda f: f["x"] - 9.5)  # only a higher x helps
    result = recourse(model, rows, data=data, monotone={"x": "decrease"})
    assert result.metrics["rows_with_recourse"] == 0 and result.counterfactuals.empty
    details = result.details
    assert details[["kind", "status"]].values.tolist() == [["counterfactual", "none"]]
    assert "no recourse found" in result.to_html()


def test_default_immutable_columns_are_never_changed_unless_released(data):
    model = Scored(lambda f: 5 * (f["sex"] == "M") + f["x"] / 4 - 2.6)  # sex is the cheapest
    rows = _rows(data, x=0)
    kept = recourse(model, rows, data=data)
    assert len(kept.counterfactuals) and (kept.counterfactuals["sex"] == "F").all()
    released = recourse(model, rows, data=data, immutable=[])
    first = released.counterfactuals.iloc[0]
    assert first["sex"] == "M" and first["n_changed"] == 1


def test_redundant_columns_change_together_and_count_once(data):
    model = Scored(lambda f: 3 * f["level_num"] - 7.5)  # needs level_num 3
    for redundant in (None, [("level", "level_num")]):  # found in data, or declared
        cf = recourse(model, _rows(data), data=data, redundant=redundant, n=1).counterfactuals
        assert cf.loc[0, ["level", "level_num", "n_changed"]].tolist() == ["high", 3, 1]


def test_every_counterfactual_on_adult_flips_and_respects_the_constraints():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from nbtrail.datasets import load_adult

    train = load_adult("train").sample(3000, random_state=0)
    X, y = train.drop(columns="income"), train["income"]
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), cat), ("num", StandardScaler(), num)]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=500)).fit(X, y)
    test = load_adult("test").drop(columns="income").sample(200, random_state=1)
    rows = test[model.predict(test) == "<=50K"].head(6)
    immutable = ["sex", "race", "age", "native_country"]
    result = recourse(
        model,
        rows,
        data=X,
        immutable=immutable,
        monotone={"education_num": "increase"},
        redundant=[("education", "education_num")],
        sensitive="sex",
    )
    cf = result.counterfactuals
    assert result.metrics["rows_with_recourse"] >= 4 and len(cf)
    assert (model.predict(cf[X.columns]) == ">50K").all()
    original = rows.loc[cf["row"]].reset_index(drop=True)
    assert (cf[immutable].reset_index(drop=True) == original[immutable]).all().all()
    assert (cf["education_num"].to_numpy() >= original["education_num"].to_numpy()).all()
    for c in num:
        assert cf[c].between(X[c].min(), X[c].max()).all(), c
    mapping = X.drop_duplicates("education").set_index("education")["education_num"]
    assert (cf["education"].map(mapping) == cf["education_num"]).all()
    assert (cf["n_changed"] <= 3).all() and result.metrics["median_seconds_per_row"] > 0
    assert set(result.details["kind"]) == {"group", "counterfactual"}


def test_gap_in_cost_across_groups_warns_with_seeded_intervals(data):
    rows = pd.concat([_rows(data, x=8), _rows(data, x=8), _rows(data, x=1), _rows(data, x=2)])
    rows.index = ["p", "q", "r", "s"]
    group = pd.Series(["A", "A", "B", "B"])
    model = Scored(lambda f: f["x"] - 9.5)
    one = recourse(model, rows, data=data, sensitive=group, gap_on="distance", max_gap=0.5)
    two = recourse(model, rows, data=data, sensitive=group, gap_on="distance", max_gap=0.5)
    by_group = one.by_group.set_index("group")
    assert one.status == "warn" and one.metrics["gap_distance"] > 0.5
    assert by_group.loc["B", "distance"] > by_group.loc["A", "distance"]
    assert (by_group["distance_lo"] <= by_group["distance"]).all()
    assert (by_group["distance"] <= by_group["distance_hi"]).all()
    pd.testing.assert_frame_equal(one.by_group, two.by_group)
    assert one.thresholds == {"gap_distance": 0.5}
    page = one.to_html()
    assert "<meter" in page and "<script" not in page and "x: 1 -&gt; 10" in page
    relaxed = recourse(model, rows, data=data, sensitive=group, gap_on="distance", max_gap=100)
    assert relaxed.status == "pass"


def test_no_rejected_rows_passes_and_says_so(data):
    result = recourse(Scored(lambda f: f["x"] + 1.0), _rows(data), data=data)
    assert result.status == "pass" and "no rejected rows" in result.summary
    assert result.metrics == {"rows": 1, "rejected": 0}


def test_a_model_failing_on_candidates_is_an_error_result(data):
    def fails_on_batches(frame):
        if len(frame) > 1:
            raise RuntimeError("boom")
        return frame["x"] - 9.5

    result = recourse(Scored(fails_on_batches), _rows(data), data=data)
    assert result.status == "error" and "RuntimeError: boom" in result.summary


class NoPredict:
    classes_ = np.array(["no", "yes"])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"rows": [[1, 2]]}, "rows must be a pandas DataFrame"),
        ({"data": "train"}, "data must be a pandas DataFrame"),
        ({"immutable": ["gender"]}, "immutable names columns that are not in rows: ['gender']"),
        ({"ranges": {"x": (5, 1)}}, "ranges['x']: lo 5 is above hi 1"),
        ({"ranges": {"cat": (0, 1)}}, "ranges: column 'cat' is not numeric"),
        ({"monotone": {"x": "up"}}, "monotone['x'] must be 'increase' or 'decrease'"),
        ({"monotone": {"cat": "increase"}}, "monotone: column 'cat' is not numeric"),
        ({"redundant": [("x", "nope")]}, "redundant names columns that are not in rows"),
        ({"model": NoPredict()}, "model must have predict"),
        ({"desired": "maybe"}, "desired 'maybe' is not one of the model's classes"),
        ({"sensitive": "race"}, "sensitive names columns that are not in rows: ['race']"),
        ({"sensitive": pd.Series(["A", "B"])}, "sensitive has 2 values for 1 rows"),
        ({"n": 0}, "n must be a positive integer"),
        ({"max_seconds_per_row": 0}, "max_seconds_per_row must be a positive number"),
    ],
)
def test_bad_input_names_the_parameter(data, change, message):
    arguments = {"model": Scored(_x_or_c), "rows": _rows(data), "data": data, **change}
    with pytest.raises(UsageError) as caught:
        recourse(arguments.pop("model"), arguments.pop("rows"), **arguments)
    assert message in str(caught.value)


def test_data_missing_a_column_of_rows_names_it(data):
    with pytest.raises(UsageError, match=r"data lacks columns of rows: \['level_num'\]"):
        recourse(Scored(_x_or_c), _rows(data), data=data.drop(columns="level_num"))


def test_time_budget_stops_widening_and_is_counted(data):
    model = Scored(lambda f: f["x"] / 4 + 5 * (f["cat"] == "c") - 8)  # needs x > 12 with "c"
    rows = _rows(data, x=0)
    unhurried = recourse(model, rows, data=data, ranges={"x": (0, 14)})
    assert unhurried.counterfactuals.loc[0, "n_changed"] == 2
    hurried = recourse(model, rows, data=data, ranges={"x": (0, 14)}, max_seconds_per_row=1e-9)
    assert hurried.metrics["rows_timed_out"] == 1 and hurried.counterfactuals.empty


def test_empty_rows_are_refused(data):
    with pytest.raises(UsageError, match="rows is empty"):
        recourse(Scored(_x_or_c), _rows(data).iloc[:0], data=data)


def test_repeated_index_labels_keep_each_rows_own_counterfactuals(data):
    rows = pd.concat([_rows(data, x=4), _rows(data, x=7)])  # both labelled 0
    result = recourse(Scored(lambda f: f["x"] - 9.5), rows, data=data, n=1)
    cf = result.counterfactuals
    assert cf["x"].tolist() == [10, 10] and cf["distance"].iloc[0] > cf["distance"].iloc[1]
    assert result.details["changes"].tolist() == ["x: 4 -> 10", "x: 7 -> 10"]


def test_default_immutable_list_covers_german_credits_sensitive_columns():
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from nbtrail.datasets import load_german

    german = load_german()
    X, y = german.drop(columns="credit"), german["credit"]
    cat = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c])]
    num = [c for c in X.columns if c not in cat]
    pre = ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), cat), ("num", StandardScaler(), num)]
    )
    model = make_pipeline(pre, LogisticRegression(max_iter=1000)).fit(X, y)
    rows = X[model.predict(X) == "bad"].head(5)
    cf = recourse(model, rows, data=X, desired="good").counterfactuals
    frozen = ["personal_status", "age", "foreign_worker", "sex"]
    assert len(cf) and (model.predict(cf[X.columns]) == "good").all()
    original = rows.loc[cf["row"], frozen].reset_index(drop=True)
    assert (cf[frozen].reset_index(drop=True) == original).all().all()
