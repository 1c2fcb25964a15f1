"""Checks: the result type, schema validation, data quality, leakage, label verification."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from nbtrail import checks
from nbtrail.checks import CheckResult
from nbtrail.errors import GateFailed, UsageError


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 400
    return pd.DataFrame(
        {
            "id": np.arange(n),
            "age": rng.integers(18, 90, n),
            "income": rng.normal(50, 10, n).round(2),
            "city": pd.Series(rng.choice(["north", "south", "east"], n), dtype="str"),
            "label": rng.choice(["yes", "no"], n, p=[0.3, 0.7]),
        }
    )


# -- the result type --------------------------------------------------------------------------


def test_result_validation_gates_and_rendering():
    with pytest.raises(UsageError, match="check status must be one of"):
        CheckResult("x", "ok")
    big = CheckResult("big", "fail", "many findings", details=pd.DataFrame({"row": range(5000)}))
    assert len(big.details) == 1000 and big.metrics["details_truncated_from"] == 5000
    with pytest.raises(GateFailed, match="gate 'big' failed: many findings"):
        big.raise_for_status()
    with pytest.raises(GateFailed, match="errored"):
        CheckResult("broken", "error").raise_for_status()
    assert CheckResult("fine", "warn").raise_for_status().status == "warn"
    page = big.to_html()
    assert "<script" not in page and len(page.encode()) < 1_000_000
    assert "data-status='fail'" in page and "800 more rows not shown" in page
    assert "<CheckResult big: FAIL>" in repr(big)
    bundle = big._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}  # no widget frontend attached here


def test_widget_filters_findings():
    result = CheckResult(
        "quality",
        "warn",
        details=pd.DataFrame(
            {
                "column": ["a", "a", "b"],
                "rule": ["missing", "outliers", "missing"],
                "value": [0.1, 0.2, 0.3],
                "status": ["warn", "warn", "pass"],
            }
        ),
    )
    view = result.widget()
    assert set(view.filters) == {"column", "rule", "status"}
    assert len(view.filtered()) == 3
    view.filters["column"].value = "a"
    assert len(view.filtered()) == 2 and "outliers" in view.table.value
    view.filters["rule"].value = "missing"
    assert view.filtered()["value"].tolist() == [0.1]


def test_combined_report(tmp_path, frame):
    results = [checks.data_quality(frame, target="label"), CheckResult("manual", "fail", "bad")]
    page = checks.report(results, tmp_path / "checks.html", title="All checks")
    assert page.count("class='card check'") == 2
    assert (tmp_path / "checks.html").read_text() == page and "<script" not in page


# -- schema -----------------------------------------------------------------------------------


def test_infer_schema_and_round_trip_through_yaml(tmp_path, frame):
    schema = checks.infer_schema(frame, range_tolerance=0.1)
    columns = schema.pandera.columns
    assert columns["id"].unique and not columns["age"].unique
    assert "isin" in str(columns["city"].checks[0]) and "in_range" in str(columns["age"].checks[0])
    age = columns["age"].checks[0].statistics
    span = frame.age.max() - frame.age.min()
    assert age["min_value"] <= frame.age.min() - 0.1 * span + 1
    path = tmp_path / "schema.yaml"
    text = schema.to_yaml(path)
    assert "city:" in text and path.read_text() == text
    loaded = checks.Schema.from_yaml(path)
    assert checks.validate(frame, loaded).status == "pass"
    # People edit the YAML: narrow a range, and the same data now fails.
    edited = text.replace(f"max_value: {int(age['max_value'])}", "max_value: 30")
    assert checks.validate(frame, checks.Schema.from_yaml(edited)).status == "fail"


def test_validate_collects_every_failure_with_examples(frame):
    schema = checks.infer_schema(frame)
    bad = frame.copy()
    bad.loc[[3, 7], "age"] = 500
    bad.loc[5, "city"] = "atlantis"
    bad = bad.drop(columns=["income"]).assign(extra=1)
    result = checks.validate(bad, schema)
    assert result.status == "fail"
    found = {(r.column, r.rule.split("(")[0]): r for r in result.details.itertuples()}
    assert found[("age", "in_range")].failures == 2 and found[("age", "in_range")].rows == [3, 7]
    assert found[("city", "isin")].examples == ["atlantis"]
    assert ("income", "column_in_dataframe") in found
    assert ("extra", "column_in_schema") in found
    assert result.metrics["failing_columns"] == 4


def test_a_few_failing_rows_warn_below_the_allowed_share(frame):
    schema = checks.infer_schema(frame)
    bad = frame.copy()
    bad.loc[0, "city"] = "atlantis"
    assert checks.validate(bad, schema).status == "fail"
    result = checks.validate(bad, schema, max_failure_share=0.01)
    assert result.status == "warn" and result.metrics["failing_row_share"] == 1 / len(frame)


# -- bad input --------------------------------------------------------------------------------


def test_bad_input_gets_clear_messages_or_failing_checks(frame):
    with pytest.raises(UsageError, match="reference data is empty"):
        checks.infer_schema(frame.iloc[0:0])
    assert checks.validate(frame.iloc[0:0], checks.infer_schema(frame)).status == "warn"
    empty_quality = checks.data_quality(frame.iloc[0:0])
    assert empty_quality.status == "fail" and "empty" in empty_quality.details.rule.tolist()
    dup = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(UsageError, match="column 'a' appears more than once"):
        checks.infer_schema(dup)
    quality = checks.data_quality(dup)
    assert quality.status == "fail" and "duplicate_column_name" in quality.details.rule.tolist()
    with pytest.raises(UsageError, match="target column 'nope' is not in the data"):
        checks.data_quality(frame, target="nope")
    with pytest.raises(UsageError, match="target column 'nope' is not in the training data"):
        checks.leakage(frame, target="nope")
    with pytest.raises(UsageError, match="missing.yaml: no such schema file"):
        checks.validate(frame, "missing.yaml")


def test_awkward_columns_give_findings_not_tracebacks():
    rng = np.random.default_rng(1)
    n = 2000
    awkward = pd.DataFrame(
        {
            "all_missing": [np.nan] * n,
            "mixed": [1, "two", 3.0, None] * (n // 4),
            "ünïcødé ✓": rng.normal(size=n),
            "levels": [f"level-{i}" for i in range(n)],
            "infinite": np.where(rng.random(n) < 0.01, np.inf, rng.normal(size=n)),
            "when": pd.date_range("2024-01-01", periods=n, freq="h", tz="Europe/Paris"),
            "constant": 7,
        }
    )
    result = checks.data_quality(awkward)
    rules = {(r.column, r.rule): r.status for r in result.details.itertuples()}
    assert rules[("all_missing", "missing")] == "fail"
    assert rules[("mixed", "mixed_types")] == "fail"
    assert rules[("levels", "high_cardinality")] == "warn"
    assert rules[("infinite", "infinite")] == "fail"
    assert rules[("constant", "constant")] == "warn"
    assert not any(c == "when" and s != "pass" for (c, _), s in rules.items())
    assert result.status == "fail"
    schema = checks.infer_schema(awkward.drop(columns=["mixed"]))
    assert checks.validate(awkward.drop(columns=["mixed"]), schema).status == "pass"
    shifted = awkward.drop(columns=["mixed"]).assign(
        when=pd.date_range("2024-01-01", periods=n, freq="h", tz="UTC")
    )
    assert "when" in checks.validate(shifted, schema).details.column.tolist()  # tz is part of dtype


def test_ten_thousand_level_categorical():
    n = 20_000
    frame = pd.DataFrame(
        {"code": pd.Categorical([f"c{i % 10_000}" for i in range(n)]), "y": np.arange(n) % 2}
    )
    schema = checks.infer_schema(frame, max_categories=50)
    assert not schema.pandera.columns["code"].checks  # too many levels for an allowed list
    quality = checks.data_quality(frame, target="y")
    assert ("code", "high_cardinality") in {
        (r.column, r.rule) for r in quality.details.itertuples()
    }


def test_target_with_one_class():
    frame = pd.DataFrame({"x": range(50), "y": ["same"] * 50})
    quality = checks.data_quality(frame, target="y")
    assert quality.status == "fail"
    assert quality.details.query("rule == 'single_class'").column.tolist() == ["y"]
    with pytest.raises(UsageError, match="target 'y' has one class"):
        checks.label_issues(frame[["x"]], frame["y"])


# -- data quality -----------------------------------------------------------------------------


def test_quality_finds_missing_duplicates_outliers_and_imbalance(frame):
    dirty = frame.copy()
    dirty.loc[:59, "income"] = np.nan  # 15% missing
    dirty = pd.concat([dirty, dirty.iloc[:10]], ignore_index=True)  # duplicates
    dirty.loc[100:120, "age"] = 100_000  # outliers
    dirty["label"] = ["rare"] + ["common"] * (len(dirty) - 1)
    result = checks.data_quality(dirty, target="label")
    rules = {(r.column, r.rule): r for r in result.details.itertuples()}
    assert rules[("income", "missing")].status == "warn"
    assert rules[("(rows)", "duplicate_rows")].status == "warn"
    assert rules[("age", "outliers")].status == "warn"
    assert rules[("label", "class_balance")].status == "warn"
    assert result.status == "warn"


# -- leakage ----------------------------------------------------------------------------------


def test_leakage_finds_a_predictive_feature_a_lookalike_name_and_shared_rows(frame):
    train, test = frame.iloc[:300], frame.iloc[250:]
    clean = checks.leakage(train, test.iloc[50:], target="label")
    assert clean.status == "pass" and clean.metrics["shared_rows"] == 0
    leaky = train.assign(outcome=(train.label == "yes").astype(int))
    result = checks.leakage(leaky, target="label")
    failing = result.details.query("status == 'fail'")
    pairs = set(zip(failing.column, failing.rule, strict=True))
    assert ("outcome", "single_feature_predicts_target") in pairs
    named = checks.leakage(train.assign(Label_=1), target="label")
    pairs = set(zip(named.details.column, named.details.rule, strict=True))
    assert ("Label_", "named_like_target") in pairs
    shared = checks.leakage(train, test, target="label")
    assert shared.status == "fail" and shared.metrics["shared_rows"] == 50


# -- label verification -----------------------------------------------------------------------


def test_confident_learning_on_a_hand_checked_example():
    labels = np.array([0, 0, 0, 1, 1, 1])
    probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.3, 0.7], [0.95, 0.05]])
    learned = checks.confident_learning(labels, probs)
    # t0 = mean(0.9, 0.8, 0.1) = 0.6, t1 = mean(0.8, 0.7, 0.05) = 0.5167
    np.testing.assert_allclose(learned.thresholds, [0.6, (0.8 + 0.7 + 0.05) / 3])
    assert learned.confident_joint.tolist() == [[2, 1], [1, 2]]
    assert sorted(learned.ranked.tolist()) == [2, 5]
    assert learned.ranked.tolist() == [5, 2]  # least self-confident first
    assert learned.noise_rate == pytest.approx(1 / 3)


def test_label_issues_finds_injected_noise():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=1500, n_features=8, n_informative=5, class_sep=2.0, random_state=0
    )
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), size=150, replace=False)
    noisy = y.copy()
    noisy[flipped] = 1 - noisy[flipped]
    result = checks.label_issues(pd.DataFrame(X), pd.Series(noisy, name="target"))
    flagged = set(result.details.row)
    precision = len(flagged & set(flipped)) / len(flagged)
    recall = len(flagged & set(flipped)) / len(flipped)
    assert precision > 0.6 and recall > 0.6, (precision, recall)
    assert result.status in ("warn", "fail")
    assert result.metrics["estimated_noise_rate"] == pytest.approx(0.1, abs=0.05)


def test_label_issues_refuses_what_it_cannot_do():
    X = pd.DataFrame({"x": range(12)})
    with pytest.raises(UsageError, match="has 2 rows; 5-fold"):
        checks.label_issues(X, pd.Series(["a"] * 10 + ["b"] * 2, name="y"))
    with pytest.raises(UsageError, match="missing labels"):
        checks.label_issues(X, pd.Series(["a", None] * 6))
    with pytest.raises(UsageError, match="pred_probs must have shape"):
        checks.label_issues(X, pd.Series(["a", "b"] * 6), pred_probs=np.ones((12, 3)) / 3)
    with pytest.raises(UsageError, match="X has 12 rows but y has 3"):
        checks.label_issues(X, [1, 0, 1])


def test_natural_duplicates_in_a_clean_held_out_batch_warn_with_count_and_share():
    from nbtrail.datasets import load_adult

    train = load_adult("train").dropna()
    test = load_adult("test").dropna()
    result = checks.leakage(train, test, target="income", sample=2000)
    shared = result.metrics["shared_rows"]
    assert 0 < shared and result.metrics["shared_row_share"] < 0.01
    assert result.status == "warn", result.summary
    assert f"{shared:,} of {len(test):,} test rows" in result.summary
    assert f"({shared / len(test):.2%}) also appear in train" in result.summary
    row = result.details.query("rule == 'rows_in_train_and_test'").iloc[0]
    assert row["status"] == "warn" and row["threshold"] == 0.01
    strict = checks.leakage(train, test, target="income", sample=2000, max_shared_share=0.0)
    assert strict.status == "fail" and "above the 0.00% allowed" in strict.summary


def test_a_split_that_leaks_rows_fails_above_the_threshold(frame):
    train = frame.iloc[:300]
    test = frame.iloc[250:300]  # every test row is a training row
    result = checks.leakage(train, test, target="label", max_shared_share=0.05)
    assert result.status == "fail"
    assert result.summary.startswith("possible leakage: 50 of 50 test rows (100.00%)")
    with pytest.raises(UsageError, match=r"max_shared_share must be a number in \[0, 1\]"):
        checks.leakage(train, test, target="label", max_shared_share=2)
