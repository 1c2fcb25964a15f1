"""Identifier detection (the pii check) and keyed pseudonyms."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import numpy as np
import pandas as pd
import pytest

from nbtrail.checks import CheckResult, identifier_columns, pii
from nbtrail.errors import UsageError
from nbtrail.privacy import pseudonym, pseudonymise
from nbtrail.store import init_trail

KEY = "a-test-key-of-32-bytes-exactly!!"
OTHER_KEY = b"another-key-that-is-long-enough"

FIRST = [
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
    "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas",
    "Sarah", "Charles", "Karen", "Amélie", "Søren", "Aoife", "Mateo",
]  # fmt: skip
LAST = [
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez",
    "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor",
    "Moore", "Jackson", "Martin", "O'Brien", "Smith-Jones", "Müller", "Nakamura",
]  # fmt: skip
STREETS = ["Main", "Oak", "Pine", "Maple", "Cedar", "Elm", "Washington", "Lake", "Hill", "Park"]
SUFFIXES = ["Street", "St", "Road", "Rd", "Avenue", "Ave", "Lane", "Drive", "Blvd", "Way"]
WORDS = "the order arrived late and the box was damaged please call back about refund".split()


def _luhn_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return str((10 - total % 10) % 10)


def _people(n: int = 400, seed: int = 7) -> pd.DataFrame:
    """A table with real-looking identifiers in every direct-identifier column."""
    rng = np.random.default_rng(seed)
    first = rng.choice(FIRST, n)
    last = rng.choice(LAST, n)
    cards = []
    for _ in range(n):
        body = "4" + "".join(map(str, rng.integers(0, 10, 14)))
        number = body + _luhn_digit(body)
        cards.append(" ".join(number[i : i + 4] for i in range(0, 16, 4)))
    born = pd.Timestamp("1940-01-01") + pd.to_timedelta(rng.integers(0, 365 * 60, n), unit="D")
    phones = [
        rng.choice(
            [
                f"+1 ({a}) {b}-{c:04d}",
                f"{a}-{b}-{c:04d}",
                f"+44 20 {b}{c % 10} {c:04d}",
                f"({a}) {b} {c:04d}",
            ]
        )
        for a, b, c in zip(
            rng.integers(201, 990, n),
            rng.integers(200, 999, n),
            rng.integers(0, 9999, n),
            strict=True,
        )
    ]
    frame = pd.DataFrame(
        {
            "customer_id": np.arange(1_000_000, 1_000_000 + n),  # 7-digit ids: not phones
            "full_name": [f"{f} {s}" for f, s in zip(first, last, strict=True)],
            "Surname": last,
            "holder": [
                f"{f} {m}. {s}" if k % 3 == 0 else f"{f} {s}"
                for k, (f, m, s) in enumerate(
                    zip(
                        rng.choice(FIRST, n),
                        rng.choice(list("ABCDEJKMT"), n),
                        rng.choice(LAST, n),
                        strict=True,
                    )
                )
            ],
            "eMailAddress": [
                f"{f.lower()}.{s.lower()}{k}@{d}"
                for k, (f, s, d) in enumerate(
                    zip(
                        first, last, rng.choice(["example.com", "mail.example.org"], n), strict=True
                    )
                )
            ],
            "contact": phones,
            "ssn": [
                f"{a:03d}-{g:02d}-{s:04d}"
                for a, g, s in zip(
                    rng.integers(1, 665, n),
                    rng.integers(1, 99, n),
                    rng.integers(1, 9999, n),
                    strict=True,
                )
            ],
            "payment": cards,
            "client_ip": [".".join(map(str, rng.integers(1, 255, 4))) for _ in range(n)],
            "home": [
                f"{rng.integers(1, 9999)} {rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
                + (", Springfield" if k % 2 else "")
                for k in range(n)
            ],
            "dob": born.strftime("%Y-%m-%d"),
            "zip": [f"{z:05d}" for z in rng.integers(1000, 99999, n)],
            "notes": [" ".join(rng.choice(WORDS, rng.integers(3, 12))) for _ in range(n)],
            "sku": [
                f"{''.join(rng.choice(list('ABCDEFGHJK'), 2))}-{rng.integers(1000, 9999)}-X"
                for _ in range(n)
            ],
            "amount": rng.gamma(2.0, 40.0, n).round(2),
            "signup_date": (
                pd.Timestamp("2023-01-01") + pd.to_timedelta(rng.integers(0, 700, n), unit="D")
            ).strftime("%Y-%m-%d"),
            "version": [f"1.{k % 7}.0.{4000 + k}" for k in range(n)],
            "city": rng.choice(["New York", "Los Angeles", "San Francisco", "Boston"], n),
        }
    )
    frame.loc[rng.choice(n, 40, replace=False), "eMailAddress"] = None  # missing values too
    return frame


EXPECTED = {
    "full_name": "person name",
    "Surname": "person name",
    "holder": "person name",
    "eMailAddress": "e-mail",
    "contact": "phone",
    "ssn": "national id",
    "payment": "card number",
    "client_ip": "ip address",
    "home": "street address",
    "dob": "date of birth",
    "zip": "postcode",
}


# -- the check --------------------------------------------------------------------------------


def test_each_identifier_is_flagged_with_its_kind():
    frame = _people()
    result = pii(frame)
    assert isinstance(result, CheckResult) and result.status == "fail"
    assert (result.kind, result.version) == ("pii", "1")
    found = dict(zip(result.details["column"], result.details["kind"], strict=True))
    assert found == EXPECTED  # free text, product codes, ids, amounts, dates, cities: not
    assert list(result.details.columns) == [
        "column", "kind", "confidence", "evidence", "share", "sampled",
    ]  # fmt: skip
    assert result.details["confidence"].between(0.5, 0.99).all()
    assert result.details["confidence"].is_monotonic_decreasing
    evidence = dict(zip(result.details["column"], result.details["evidence"], strict=True))
    assert evidence["eMailAddress"] == "name+content" and evidence["contact"] == "content"
    assert evidence["holder"] == "content" and evidence["payment"] == "content"
    assert result.metrics == {
        "columns_scanned": frame.shape[1],
        "columns_flagged": len(EXPECTED),
        "values_sampled_max": len(frame),
    }
    assert result.summary.startswith(
        f"{len(EXPECTED)} of {frame.shape[1]} columns hold identifiers"
    )
    assert "full_name (person name, 0.99)" in result.summary and "and 6 more" in result.summary
    assert identifier_columns(frame) == [c for c in frame.columns if c in EXPECTED]


def test_no_value_is_copied_into_the_result():
    frame = _people()
    result = pii(frame)
    text = repr(result) + result.to_html() + repr(result.to_dict())
    for column in EXPECTED:
        for value in frame[column].dropna().astype(str).head(50):
            assert value not in text, (column, value)


def test_the_adult_data_holds_no_identifier():
    from nbtrail.datasets import load_adult

    train = load_adult("train")
    result = pii(train)
    assert result.status == "pass", result.details
    assert result.summary == f"no identifiers found in {train.shape[1]} columns"
    assert len(result.details) == 0 and result.metrics["columns_flagged"] == 0
    assert identifier_columns(train, 0.2) == []  # not even weak evidence on age, fnlwgt, hours


def test_the_german_credit_telephone_flag_is_no_phone_number():
    from nbtrail.datasets import load_german

    assert pii(load_german()).status == "pass"  # `telephone` is a yes/no flag


def test_name_and_content_evidence_and_their_confidence():
    n = 200
    emails = [f"user{k}@example.com" for k in range(n)]
    frame = pd.DataFrame(
        {
            "email": emails,  # name and content
            "x1": emails,  # content only
            "phone": [None] * n,  # name only: nothing to sample
            "half": emails[: n // 2] + ["n/a"] * (n // 2),  # content on half the values
            "postcode": [None] * n,  # a quasi-identifier by name
            "name": [None] * n,  # may name products: too weak alone
        }
    )
    details = pii(frame).details.set_index("column")
    assert details.loc["email", "evidence"] == "name+content"
    assert details.loc["email", "confidence"] == pytest.approx(0.99)
    assert details.loc["x1", "evidence"] == "content"
    assert details.loc["x1", "confidence"] == pytest.approx(0.95)
    assert details.loc["x1", "share"] == 1.0
    assert details.loc["phone", "evidence"] == "name"
    assert details.loc["phone", "confidence"] == pytest.approx(0.6)
    assert np.isnan(details.loc["phone", "share"]) and details.loc["phone", "sampled"] == 0
    assert details.loc["postcode", "confidence"] == pytest.approx(0.5)
    assert "half" not in details.index  # 0.95 x 0.5 < 0.5
    assert "name" not in details.index
    strict = pii(frame, min_confidence=0.9).details
    assert strict["column"].tolist() == ["email", "x1"]
    assert identifier_columns(frame, 0.45) == ["email", "x1", "phone", "half", "postcode"]


def test_names_that_describe_an_identifier_rather_than_hold_it():
    n = 100
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "telephone": rng.random(n) > 0.5,
            "has_email": rng.choice(["yes", "no"], n),
            "email_domain": rng.choice(["example.com", "example.org", "mail.test"], n),
            "phone_type": rng.choice(["mobile", "home", "work"], n),
            "address_count": rng.integers(0, 4, n),
            "relationship": rng.choice(["Husband", "Wife", "Own-child"], n),
            "zipper_size": rng.integers(1, 5, n),
            "tip_amount": rng.gamma(1.0, 3.0, n),
        }
    )
    result = pii(frame)
    assert result.status == "pass", result.details


def test_declared_identifiers_are_flagged_for_certain():
    frame = pd.DataFrame({"account": [f"A-{k}" for k in range(50)], "email": ["x"] * 50})
    result = pii(frame, identifiers=["account", "not_here"])
    row = result.details.set_index("column").loc["account"]
    assert (row["confidence"], row["evidence"], row["kind"]) == (1.0, "declared", "declared")
    declared_email = pii(_people(60), identifiers="eMailAddress").details.set_index("column")
    assert declared_email.loc["eMailAddress", "kind"] == "e-mail"
    assert declared_email.loc["eMailAddress", "evidence"] == "declared"
    assert result.params["identifiers"] == ["account", "not_here"]


def test_the_sample_is_bounded_and_deterministic():
    frame = _people(3000, seed=3)
    first = pii(frame, sample_rows=250)
    second = pii(frame, sample_rows=250)
    assert first.metrics["values_sampled_max"] == 250
    pd.testing.assert_frame_equal(first.details, second.details)
    assert set(first.details["column"]) == set(EXPECTED)
    assert first.params["sample_rows"] == 250


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: pii([{"email": "a@b.co"}]), "frame"),
        (lambda: pii(pd.DataFrame({"a": [1]}), sample_rows=0), "sample_rows"),
        (lambda: pii(pd.DataFrame({"a": [1]}), sample_rows=2.5), "sample_rows"),
        (lambda: pii(pd.DataFrame({"a": [1]}), min_confidence=0), "min_confidence"),
        (lambda: pii(pd.DataFrame({"a": [1]}), min_confidence=1.5), "min_confidence"),
        (lambda: identifier_columns(pd.DataFrame({"a": [1]}), -0.1), "min_confidence"),
        (lambda: identifier_columns("a,b"), "frame"),
    ],
)
def test_bad_input_is_refused_naming_the_parameter(call, named):
    with pytest.raises(UsageError, match=named):
        call()


def test_awkward_frames():
    empty = pii(pd.DataFrame())
    assert empty.status == "pass" and empty.metrics["columns_scanned"] == 0
    no_rows = pii(pd.DataFrame({"email": pd.Series([], dtype=object), "v": []}))
    assert no_rows.details["column"].tolist() == ["email"]
    odd = pd.DataFrame(
        {
            0: [[1, 2], {"a": 1}, None, 3.5] * 10,
            "when": pd.date_range("2020-01-01", periods=40, freq="D", tz="UTC"),
            "dob": pd.to_datetime(["1980-05-01", "1975-01-02", "2001-09-30", None] * 10),
            "score": [np.inf, -np.inf, np.nan, 1.0] * 10,
            "cat": pd.Categorical(["Ada Lovelace", "Alan Turing", "Grace Hopper", "Ann"] * 10),
        }
    )
    odd = pd.concat([odd, odd[["dob"]]], axis=1)  # a repeated column name
    details = pii(odd).details
    assert details["column"].tolist() == ["dob", "dob"]
    assert set(details["kind"]) == {"date of birth"} and set(details["evidence"]) == {
        "name+content"
    }


def test_recorded_result_keeps_no_identifier(tmp_path):
    frame = _people(80)
    trail = init_trail(tmp_path)
    try:
        with trail.start_run("audit") as run:
            result = pii(frame).record(run)
        (record,) = trail.checks([run.id])
        assert (record.kind, record.status) == ("pii", "fail")
        stored = CheckResult.from_record(trail, record)
        assert stored.details["column"].tolist() == result.details["column"].tolist()
        blob = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
        for value in frame["eMailAddress"].dropna().head(20):
            assert value.encode() not in blob
    finally:
        trail.close()


def test_renderer_draws_bars_and_the_findings():
    page = pii(_people(60)).to_html()
    assert "confidence per flagged column" in page and "<meter" in page
    assert "<svg" not in page and "<script" not in page
    assert "e-mail" in page and "name+content" in page


# -- pseudonyms -------------------------------------------------------------------------------


def _reference(value, key=KEY, length=16):
    raw = key.encode() if isinstance(key, str) else key
    return hmac.new(raw, str(value).encode(), hashlib.sha256).hexdigest()[:length]


def test_pseudonyms_are_keyed_hashes_and_deterministic():
    frame = pd.DataFrame({"email": ["a@x.org", "b@x.org", "a@x.org"], "n": [1, 2, 1]})
    out = pseudonymise(frame, "email", key=KEY)
    a, b = _reference("a@x.org"), _reference("b@x.org")
    assert out["email"].tolist() == [a, b, a]
    assert out["n"].tolist() == [1, 2, 1]
    assert pseudonymise(frame, ["email"], key=KEY.encode()).equals(out)
    assert pseudonym("a@x.org", key=KEY) == out.loc[0, "email"]
    assert pseudonym(1, key=KEY) == _reference("1")
    assert all(re.fullmatch(r"[0-9a-f]{16}", v) for v in out["email"])
    long = pseudonymise(frame, "email", key=KEY, length=64)
    assert long.loc[0, "email"] == _reference("a@x.org", length=64)
    assert len(pseudonym("a", key=KEY, length=8)) == 8


def test_joins_keep_working_across_tables():
    left = pd.DataFrame({"ssn": ["123-45-6789", "987-65-4321"], "income": [10, 20]})
    right = pd.DataFrame(
        {"ssn": ["987-65-4321", "123-45-6789", "555-55-5555"], "age": [30, 40, 50]}
    )
    joined = pseudonymise(left, "ssn", key=KEY).merge(pseudonymise(right, "ssn", key=KEY))
    assert sorted(zip(joined["income"], joined["age"], strict=True)) == [(10, 40), (20, 30)]


def test_a_different_key_gives_different_pseudonyms():
    frame = pd.DataFrame({"email": [f"u{k}@x.org" for k in range(100)]})
    one = pseudonymise(frame, "email", key=KEY)["email"]
    two = pseudonymise(frame, "email", key=OTHER_KEY)["email"]
    assert not (one == two).any()
    assert pseudonym("u1@x.org", key=KEY) != pseudonym("u1@x.org", key=OTHER_KEY)


def test_missing_values_stay_missing():
    frame = pd.DataFrame(
        {
            "a": ["x", None, "y", "x"],
            "b": [1.0, 2.0, np.nan, 1.0],
            "when": pd.to_datetime(["2020-01-01", None, "2021-06-01", "2020-01-01"]),
        }
    )
    out = pseudonymise(frame, ["a", "b", "when"], key=KEY)
    assert out.isna().to_numpy().tolist() == frame.isna().to_numpy().tolist()
    assert out.loc[0, "b"] == _reference(1.0) and out.loc[0, "when"] == _reference(
        pd.Timestamp("2020-01-01")
    )
    assert out.loc[0, "a"] == out.loc[3, "a"] and out.loc[0, "a"] != out.loc[2, "a"]
    assert pseudonym(None, key=KEY) is None and pseudonym(np.nan, key=KEY) is None


def test_the_key_comes_from_the_environment_or_is_refused(monkeypatch):
    frame = pd.DataFrame({"email": ["a@x.org"]})
    monkeypatch.delenv("NBTRAIL_PSEUDONYM_KEY", raising=False)
    with pytest.raises(UsageError, match="set NBTRAIL_PSEUDONYM_KEY"):
        pseudonymise(frame, "email")
    with pytest.raises(UsageError, match="set NBTRAIL_PSEUDONYM_KEY"):
        pseudonym("a@x.org")
    monkeypatch.setenv("NBTRAIL_PSEUDONYM_KEY", KEY)
    assert pseudonymise(frame, "email").loc[0, "email"] == _reference("a@x.org")
    monkeypatch.setenv("MY_KEY", "k" * 40)
    assert pseudonym("a@x.org", env="MY_KEY") == _reference("a@x.org", key="k" * 40)


def test_a_short_key_is_refused_and_never_repeated(monkeypatch):
    frame = pd.DataFrame({"email": ["a@x.org"]})
    with pytest.raises(UsageError, match="at least 16 bytes") as refused:
        pseudonymise(frame, "email", key="secret-15-bytes")
    assert "secret-15-bytes" not in str(refused.value)
    monkeypatch.setenv("NBTRAIL_PSEUDONYM_KEY", "tiny-key")
    with pytest.raises(UsageError, match="NBTRAIL_PSEUDONYM_KEY.*too short") as refused:
        pseudonymise(frame, "email")
    assert "tiny-key" not in str(refused.value)
    with pytest.raises(UsageError, match="bytes or str"):
        pseudonymise(frame, "email", key=12345678901234567890)


def test_unknown_columns_and_bad_options_are_refused():
    frame = pd.DataFrame({"email": ["a@x.org"], "age": [30]})
    with pytest.raises(UsageError, match="'phone', 'ssn'"):
        pseudonymise(frame, ["email", "phone", "ssn"], key=KEY)
    with pytest.raises(UsageError, match="length"):
        pseudonymise(frame, "email", key=KEY, length=4)
    with pytest.raises(UsageError, match="length"):
        pseudonym("a", key=KEY, length=65)
    with pytest.raises(UsageError, match="frame"):
        pseudonymise([["a@x.org"]], "email", key=KEY)
    with pytest.raises(UsageError, match="at least one column"):
        pseudonymise(frame, [], key=KEY)


def test_the_input_frame_is_not_modified_and_the_key_not_kept():
    frame = pd.DataFrame({"email": ["a@x.org", None], "age": [30, 40]})
    frame.attrs["source"] = "crm"
    before = frame.copy(deep=True)
    out = pseudonymise(frame, "email", key=KEY)
    pd.testing.assert_frame_equal(frame, before)
    assert out.attrs == {"source": "crm"} and out is not frame
    assert KEY not in repr(out.attrs) + repr(out) + out.to_csv()


def test_a_repeated_column_name_is_pseudonymised_everywhere():
    frame = pd.DataFrame([["a", "b", 1]], columns=["id", "id", "n"])
    out = pseudonymise(frame, "id", key=KEY)
    assert out.iloc[0].tolist() == [_reference("a"), _reference("b"), 1]


def test_a_hundred_thousand_rows_take_well_under_a_second():
    frame = pd.DataFrame({"email": [f"user{k % 50_000}@example.com" for k in range(100_000)]})
    started = time.perf_counter()
    out = pseudonymise(frame, "email", key=KEY)
    assert time.perf_counter() - started < 1.0
    assert out["email"].nunique() == 50_000


def test_a_detected_identifier_shows_no_value_in_validation_findings():
    """Not declared anywhere: the e-mail column is recognised, its values stay out."""
    from nbtrail import checks

    frame = _people(60)[["eMailAddress", "contact"]].assign(plan=["basic", "pro"] * 30)
    schema = checks.infer_schema(frame, max_categories=100)
    assert "@" not in schema.to_yaml()  # no category list of e-mail addresses
    batch = frame.copy()
    batch.loc[3, "eMailAddress"] = "intruder@evil.example"
    batch.loc[4, "plan"] = "enterprise"  # an ordinary column keeps its examples
    result = checks.validate(batch, schema)
    text = result.details.to_csv()
    assert result.status == "fail"
    assert "intruder" not in text and "@example.com" not in text
    assert "enterprise" in text
