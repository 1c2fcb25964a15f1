"""Drift that does not false-alarm: the rule at every size, profiles, bad input, the card."""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from nbtrail import checks
from nbtrail.checks import _drift_stats as st
from nbtrail.datasets import load_adult
from nbtrail.errors import UsageError
from nbtrail.monitor import Profile, profile


@pytest.fixture(scope="module")
def adult() -> pd.DataFrame:
    return load_adult()


@pytest.fixture(scope="module")
def halves(adult):
    order = np.random.default_rng(0).permutation(len(adult))
    half = len(adult) // 2
    return adult.iloc[order[:half]].reset_index(drop=True), adult.iloc[order[half:]].reset_index(
        drop=True
    )


def _row(result, column) -> pd.Series:
    return result.details.set_index("column").loc[column]


def _mixed(n: int, rng, shift: float = 0.0) -> pd.DataFrame:
    """50 columns of the shapes real data has: normal, integer, zero-inflated, categorical."""
    data = {f"x{i}": rng.normal(size=n) + shift for i in range(20)}
    data.update({f"age{i}": rng.integers(17, 90, size=n) for i in range(10)})
    data.update(
        {
            f"gain{i}": np.where(rng.random(n) < 0.9, 0.0, rng.exponential(1000, size=n))
            for i in range(10)
        }
    )
    words = np.array([f"w{i}" for i in range(30)])
    p = 1 / np.arange(1, 31) ** 1.5
    for i in range(10):
        data[f"c{i}"] = words[rng.choice(30, size=n, p=p / p.sum())]
    return pd.DataFrame(data)


# -- the verdicts on Adult ---------------------------------------------------------------------


def test_random_split_of_adult_flags_no_column(halves):
    reference, current = halves
    result = checks.drift(reference, current)
    assert result.status == "pass", result.summary
    assert not result.details["drifted"].any()
    assert result.metrics["columns_judged"] == reference.shape[1]
    assert result.details["p_value"].between(0, 1).all()


def test_shifted_ages_and_tilted_sex_are_found(halves):
    reference, current = halves
    shifted = current.copy()
    shifted["age"] = shifted["age"] + 5
    women = shifted.index[shifted["sex"] == "Female"]
    shifted = shifted.drop(index=women[1000:])  # the sex distribution tilts to men
    result = checks.drift(reference, shifted)
    assert result.status == "fail"
    drifted = set(result.details.loc[result.details["drifted"], "column"])
    assert {"age", "sex"} <= drifted
    age = _row(result, "age")
    assert age["effect"] > 0.3  # 5 years is 0.37 sd; the women dropped were younger
    assert "wasserstein" in age["reason"]
    assert result.details.iloc[0]["drifted"]  # drifted columns first
    assert "age" in result.summary


def test_unseen_category_is_not_p_zero_and_warns_only_past_its_share(adult):
    pool = adult[adult["workclass"] != "Without-pay"]
    reference = pool.sample(800, random_state=1).reset_index(drop=True)
    current = pool.sample(800, random_state=2).reset_index(drop=True)
    current.loc[:1, "workclass"] = "Without-pay"  # 2 of 800 rows: unseen in the reference
    result = checks.drift(reference, current)
    row = _row(result, "workclass")
    assert row["new_categories"] == 1
    assert row["p_value"] > 0.05  # a goodness-of-fit test would say 0 here
    assert not row["drifted"] and row["status"] == "pass"
    strict = checks.drift(reference, current, max_new_share=0.001)
    row = _row(strict, "workclass")
    assert row["status"] == "warn" and "'Without-pay'" in row["reason"]
    assert strict.status == "warn" and strict.metrics["data_quality_warnings"] >= 1


# -- false alarms and power at every size ----------------------------------------------------------


def test_false_alarms_at_1000_rows_stay_under_five_percent():
    rng = np.random.default_rng(7)
    flagged, raw = [], []
    for _ in range(100):
        result = checks.drift(_mixed(1000, rng), _mixed(1000, rng))
        flagged.append(result.details["drifted"].mean())
        raw.append((result.details["p_value"] < 0.05).mean())
    assert np.mean(flagged) <= 0.05
    assert np.mean(raw) <= 0.08  # the test itself is calibrated, before FDR and effect


def test_large_batches_flag_no_unchanged_or_trivially_changed_column():
    rng = np.random.default_rng(8)
    n = 1_000_000
    reference = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    current = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(4)})
    current["x3"] += 0.01  # real but trivial: every test rejects it at this size
    result = checks.drift(reference, current)
    assert not result.details["drifted"].any(), result.summary
    assert _row(result, "x3")["p_adjusted"] < 0.05
    assert _row(result, "x3")["effect"] < 0.05


def test_a_tenth_of_a_standard_deviation_is_found_from_100k_rows():
    rng = np.random.default_rng(9)
    reference, current = _mixed(100_000, rng), _mixed(100_000, rng, shift=0.1)
    result = checks.drift(reference, current)
    drifted = set(result.details.loc[result.details["drifted"], "column"])
    assert drifted == {f"x{i}" for i in range(20)}


# -- statistics ------------------------------------------------------------------------------------


def test_binned_wasserstein_matches_scipy_on_raw_values():
    rng = np.random.default_rng(3)
    for ref, cur in (
        (rng.normal(size=50_000), rng.normal(0.3, 1.2, size=40_000)),
        (rng.integers(0, 50, 30_000).astype(float), rng.integers(5, 60, 20_000).astype(float)),
        (rng.exponential(size=20_000), np.r_[rng.exponential(size=20_000), [40.0, -3.0]]),
    ):
        result = checks.drift(pd.DataFrame({"v": ref}), pd.DataFrame({"v": cur}))
        expected = stats.wasserstein_distance(ref, cur) / ref.std()
        assert _row(result, "v")["effect"] == pytest.approx(expected, rel=0.02)


def test_zero_inflated_column_keeps_its_spike_in_a_bin_of_its_own(adult):
    summary = st.summarise(adult["capital_gain"])
    starts = st.merge_bins(summary["counts"], 10)
    assert len(starts) >= 5  # the zeros (92%) do not swallow the rest
    more_gains = adult.copy()
    gainers = more_gains.sample(frac=0.1, random_state=0).index
    more_gains.loc[gainers, "capital_gain"] = 5000
    result = checks.drift(adult, more_gains, psi=True)
    assert _row(result, "capital_gain")["psi"] > 0.1
    assert _row(result, "capital_gain")["drifted"]


def test_benjamini_hochberg_matches_the_textbook():
    p = np.array([0.01, 0.04, 0.03, np.nan, 0.2])
    adjusted = st.benjamini_hochberg(p)
    np.testing.assert_allclose(adjusted[[0, 1, 2, 4]], [0.04, 0.16 / 3, 0.16 / 3, 0.2])
    assert np.isnan(adjusted[3])


# -- profiles --------------------------------------------------------------------------------------


def test_profile_json_round_trip_gives_the_same_verdicts(halves, tmp_path):
    reference, current = halves
    shifted = current.assign(age=current["age"] + 5)
    from_frame = checks.drift(reference, shifted, psi=True)
    saved = profile(reference).save(tmp_path / "ref.json")
    loaded = Profile.load(saved)
    assert Profile.from_json(loaded.to_json()).to_dict() == loaded.to_dict()
    from_profile = checks.drift(loaded, shifted, psi=True)
    pd.testing.assert_frame_equal(from_frame.details, from_profile.details)
    assert from_profile.subjects[0].role == "reference"
    assert Profile.format == st.PROFILE_FORMAT  # how drift knows a profile (no import of it)


def test_profile_of_a_wide_frame_is_small_and_caps_categories():
    rng = np.random.default_rng(4)
    n = 200_000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(40)})
    for i in range(9):
        frame[f"c{i}"] = np.array(list("abcdefghij"))[rng.integers(0, 10, n)]
    frame["id"] = np.char.add("id", rng.integers(0, 10_000, n).astype(str))
    made = profile(frame, max_categories=1000)
    assert len(made.to_json()) < 1_000_000
    ids = made.columns["id"]
    assert ids["truncated"] and len(ids["counts"]) == 1000
    assert sum(ids["counts"].values()) + ids["other"] == n
    assert made.dtypes["x0"] == "float64"


def test_profile_refuses_what_it_cannot_read(tmp_path):
    with pytest.raises(UsageError, match="DataFrame"):
        profile([1, 2, 3])
    with pytest.raises(UsageError, match="quantiles"):
        profile(pd.DataFrame({"x": [1.0]}), quantiles=1)
    (tmp_path / "bad.json").write_text('{"format": "other"}')
    with pytest.raises(UsageError, match="not an nbtrail profile"):
        Profile.load(tmp_path / "bad.json")
    with pytest.raises(UsageError, match="no profile"):
        Profile.load(tmp_path / "absent.json")


# -- what cannot be judged never stops the report ------------------------------------------------


def test_unjudgeable_columns_become_findings_and_the_rest_is_judged():
    rng = np.random.default_rng(5)
    n = 20_000

    def frame():
        return pd.DataFrame(
            {
                "x": rng.normal(size=n),
                "gone": rng.normal(size=n),
                "retyped": rng.normal(size=n),
                "user_id": np.char.add("u", rng.integers(0, 5000, n).astype(str)),
                "when": pd.date_range("2026-01-01", periods=n, freq="min"),
                "colour": np.array(["red", "blue"])[rng.integers(0, 2, n)],
            }
        )

    reference, current = frame(), frame()
    current["x"] += 1.0
    current["gone"] = np.nan
    current["retyped"] = current["retyped"].map("{:.2f} kg".format)
    result = checks.drift(reference, current, max_categories=1000)
    rows = result.details.set_index("column")
    assert rows.loc["gone", "status"] == "error" and "missing" in rows.loc["gone", "reason"]
    assert rows.loc["retyped", "status"] == "error" and "type" in rows.loc["retyped", "reason"]
    assert (
        rows.loc["user_id", "status"] == "skipped" and "distinct" in rows.loc["user_id", "reason"]
    )
    assert rows.loc["when", "status"] == "skipped"
    assert rows.loc["x", "drifted"] and not rows.loc["colour", "drifted"]
    assert result.status == "fail"
    assert result.metrics["columns_not_judged"] == 4


def test_different_columns_are_named_and_the_shared_ones_judged(halves):
    reference, current = halves
    current = current.drop(columns=["fnlwgt"]).assign(score=0.5)
    result = checks.drift(reference, current)
    rows = result.details.set_index("column")
    assert rows.loc["fnlwgt", "reason"] == "not in current"
    assert rows.loc["fnlwgt", "status"] == "error"
    assert rows.loc["score", "reason"] == "not in reference"
    assert rows.loc["score", "status"] == "skipped"
    assert result.status == "warn"
    assert result.metrics["columns_judged"] == reference.shape[1] - 1


def test_bad_input_is_a_usage_error_naming_it(halves):
    reference, current = halves
    with pytest.raises(UsageError, match="current batch is empty"):
        checks.drift(reference, current.iloc[:0])
    with pytest.raises(UsageError, match="reference is empty"):
        checks.drift(reference.iloc[:0], current)
    with pytest.raises(UsageError, match="alpha"):
        checks.drift(reference, current, alpha=1.5)
    with pytest.raises(UsageError, match="numeric_method"):
        checks.drift(reference, current, numeric_method="ks")
    with pytest.raises(UsageError, match="nope"):
        checks.drift(reference, current, columns=["age", "nope"])
    with pytest.raises(UsageError, match="min_effect"):
        checks.drift(reference, current, min_effect={"energy": 0.1})
    with pytest.raises(UsageError, match="DataFrame or a Profile"):
        checks.drift({"age": [1]}, current)
    with pytest.raises(UsageError, match="duplicate"):
        checks.drift(reference, pd.concat([current[["age"]], current[["age"]]], axis=1))


def test_columns_option_judges_only_those(halves):
    reference, current = halves
    result = checks.drift(reference, current, columns=["age", "sex"])
    assert list(sorted(result.details["column"])) == ["age", "sex"]


# -- multivariate drift ----------------------------------------------------------------------------


def test_domain_classifier_tells_shifted_batches_apart_and_names_the_feature(halves):
    reference, current = halves
    alike = checks.domain_classifier(reference, current, sample=4000)
    assert alike.status == "pass" and alike.metrics["roc_auc"] < 0.56
    shifted = current.assign(age=current["age"] + 8)
    apart = checks.domain_classifier(reference, shifted, sample=4000)
    assert apart.status == "fail" and apart.metrics["roc_auc"] > 0.6
    assert apart.details.iloc[0]["column"] == "age"
    with pytest.raises(UsageError, match="share no column"):
        checks.domain_classifier(reference[["age"]], current[["sex"]])
    stamps = pd.DataFrame({"when": pd.date_range("2026-01-01", periods=50, freq="h")})
    with pytest.raises(UsageError, match="timestamps"):
        checks.domain_classifier(stamps, stamps)


# -- the card --------------------------------------------------------------------------------------


def test_card_draws_histograms_drifted_first(halves):
    reference, current = halves
    result = checks.drift(reference, current.assign(age=current["age"] + 5))
    page = result.to_html()
    data = re.search(r"src='data:image/svg\+xml;base64,([^']+)'", page).group(1)
    svg = ET.fromstring(base64.b64decode(data))
    titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text") if t.get("font-weight")]
    assert titles[0] == "age" and len(titles) <= 12
    assert "<th>histogram</th>" not in page  # the shares feed the picture, not the table
    assert "histogram" not in result.widget().result.details.columns
