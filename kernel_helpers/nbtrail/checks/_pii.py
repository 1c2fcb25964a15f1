"""Direct identifiers: which columns of a table hold people's names, e-mails, phones, ids...

Two kinds of evidence are weighed for each column and each kind of identifier:

* the column's **name**, split into lower-case words (``eMailAddress`` and ``e_mail`` both give
  ``e mail address``): ``email``, ``phone``/``tel``/``mobile``, ``ssn``/``passport``,
  ``card``, ``ip``, ``dob``/``birth``, ``address``/``street``, ``first_name``/``surname``,
  ``zip``/``postcode`` (a quasi-identifier). A word such as ``has``, ``is``, ``type``,
  ``count``, ``status``, ``verified`` or ``domain`` makes the name describe the identifier
  rather than hold it (``has_phone``, ``email_domain``), and then the name is no evidence;
  neither is it for a boolean column or one with at most two distinct values in at least 20
  sampled ones (``telephone: yes/no``).
* the column's **content**: a deterministic sample (all non-missing values, or ``sample_rows``
  of them drawn with a fixed seed), each value classified by the first pattern it matches:
  e-mail address; IPv4 or IPv6 address; US SSN (``123-45-6789``, impossible area and group
  numbers excluded); a 13 to 19 digit number passing the Luhn checksum (payment cards);
  a street address (house number first, then one to four words and a street suffix:
  ``12 Main Street``, ``4 Elm Rd``); a person name (two or three capitalised words of letters,
  an initial allowed in the middle); a phone number (7 to 15 digits with separators or a
  leading ``+``; dotted groups of two digits or more, so version numbers are not phones).
  Some patterns count only where the name already points at the kind, because on their own
  they match too much: a date of birth (a date implying an age of 0 to 110 years today), a
  postcode, a phone or an SSN written as bare digits, a single capitalised word for a name
  column. Dates are recognised first so they never pass for phone numbers.

Confidence, per (column, kind), in [0, 1]:

* name alone: 0.6 (0.5 for a postcode, a quasi-identifier; 0.35 for a column called just
  ``name``, which may name products as well as people);
* content alone: 0.95 times the share of sampled values of that kind (person names count
  only when at least 20% of the matching values are distinct, so a column of a few city
  names is not a register of people); shares under 10% are ignored;
* both: the larger of the two, plus 0.1 when at least half the values match, at most 0.99;
* declared (``identifiers=``): 1.0.

Each column is reported with its most confident kind. No value is ever copied into the
result: the findings name columns, kinds, confidences and shares only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ..errors import UsageError
from ._registry import check
from ._render import bar_chart, findings_table, metrics_table, register_renderer
from ._result import CheckResult

__all__ = ["identifier_columns", "pii"]

EMAIL = "e-mail"
PHONE = "phone"
NATIONAL_ID = "national id"
CARD = "card number"
IP = "ip address"
ADDRESS = "street address"
PERSON = "person name"
BIRTH = "date of birth"
POSTCODE = "postcode"

NAME_CONFIDENCE = 0.6
QUASI_CONFIDENCE = 0.5
WEAK_NAME_CONFIDENCE = 0.35
CONTENT_CEILING = 0.95
BOTH_BONUS = 0.1
BOTH_CEILING = 0.99
MIN_SHARE = 0.1
PERSON_DISTINCT = 0.2
VETO_MIN_VALUES = 20
MAX_AGE_YEARS = 110

DETAIL_COLUMNS = ["column", "kind", "confidence", "evidence", "share", "sampled"]

# -- the column's name ------------------------------------------------------------------------

_DESCRIBING = {
    "has",
    "is",
    "flag",
    "type",
    "kind",
    "count",
    "status",
    "verified",
    "valid",
    "opt",
    "optin",
    "consent",
    "domain",
    "provider",
    "model",
    "template",
    "format",
    "length",
    "len",
    "missing",
    "known",
    "prefix",
    "ext",
}
_PERSON_WORDS = {
    "first",
    "last",
    "given",
    "family",
    "full",
    "middle",
    "maiden",
    "customer",
    "patient",
    "person",
    "client",
    "employee",
    "contact",
    "member",
    "holder",
    "applicant",
}
_PERSON_COMPACT = (
    "surname",
    "forename",
    "firstname",
    "lastname",
    "fullname",
    "givenname",
    "familyname",
    "middlename",
    "maidenname",
)


def _words(label) -> list[str]:
    text = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", str(label))
    return re.findall(r"[a-z]+|\d+", text.lower())


def _name_evidence(label) -> tuple[str | None, float]:
    """The kind of identifier a column's name points at, and how strongly."""
    words = _words(label)
    if not words or _DESCRIBING.intersection(words):
        return None, 0.0
    compact = "".join(words)
    found = set(words)
    if "email" in compact or "mail" in found:
        return EMAIL, NAME_CONFIDENCE
    if found & {"ip", "ipv4", "ipv6"} or "ipaddr" in compact:
        return IP, NAME_CONFIDENCE
    if found & {"ssn", "sin", "nino", "passport"} or any(
        part in compact for part in ("socialsecurity", "nationalid", "nationalinsurance", "taxid")
    ):
        return NATIONAL_ID, NAME_CONFIDENCE
    if "card" in found or any(part in compact for part in ("creditcard", "cardnumber", "ccnum")):
        return CARD, NAME_CONFIDENCE
    if found & {"phone", "telephone", "tel", "mobile", "fax", "msisdn"} or "phone" in compact:
        return PHONE, NAME_CONFIDENCE
    if found & {"dob", "birth", "birthday", "born"} or any(
        part in compact for part in ("dateofbirth", "birthdate", "birthday")
    ):
        return BIRTH, NAME_CONFIDENCE
    if found & {"zip", "postal", "plz"} or any(
        part in compact for part in ("zipcode", "postcode", "postalcode")
    ):
        return POSTCODE, QUASI_CONFIDENCE
    if found & {"address", "addr", "street"} or "address" in compact:
        return ADDRESS, NAME_CONFIDENCE
    if any(part in compact for part in _PERSON_COMPACT):
        return PERSON, NAME_CONFIDENCE
    for before, word in itertools.pairwise(words):
        if word == "name" and before in _PERSON_WORDS:
            return PERSON, NAME_CONFIDENCE
    if words == ["name"]:
        return PERSON, WEAK_NAME_CONFIDENCE
    return None, 0.0


# -- the column's content ---------------------------------------------------------------------

_EMAIL_RE = re.compile(r"[\w.%+'-]+@[\w-]+(?:\.[\w-]+)*\.[^\W\d_]{2,}")  # Unicode too
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_IPV4_RE = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]+")
_SSN_RE = re.compile(r"(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}")
_CARD_RE = re.compile(r"\d(?:[ -]?\d){12,18}")
_STREET_SUFFIX = (
    "street|st|road|rd|avenue|ave|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|"
    "terrace|ter|close|crescent|cres|highway|hwy|parkway|pkwy|square|sq|circle|cir|trail|trl|"
    "row|walk|gardens"
)
_ADDRESS_RE = re.compile(
    rf"\d{{1,6}}[A-Za-z]?,?\s+(?:[A-Za-z0-9'.-]+\s+){{1,4}}(?:{_STREET_SUFFIX})\.?(?:$|[\s,])",
    re.IGNORECASE,
)
_DATE_RE = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[ T].*)?|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y")
_PHONE_RE = re.compile(r"(?:\+|00)?\(?\d[\d ().-]*\d")
_DECIMAL_RE = re.compile(r"\d+\.\d+")
_POSTCODE_RE = re.compile(
    r"\d{3,6}(?:-\d{3,4})?"  # US ZIP, ZIP+4, most European codes (leading zeros lost too)
    r"|[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}"  # UK
    r"|[A-Za-z]\d[A-Za-z]\s?\d[A-Za-z]\d"  # Canada
    r"|\d{4}\s?[A-Za-z]{2}"  # Netherlands
)


def _luhn(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_ip(text: str) -> bool:
    if _IPV4_RE.fullmatch(text):
        return True
    if text.count(":") >= 2 and _IPV6_RE.fullmatch(text):
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            return False
        return True
    return False


def _is_person(text: str, single: bool) -> bool:
    parts = text.split(" ")
    if not (2 <= len(parts) <= 3 or (single and len(parts) == 1)):
        return False
    for at, part in enumerate(parts):
        if 0 < at < len(parts) - 1 and re.fullmatch(r"[A-Z]\.", part):
            continue  # a middle initial
        core = part.replace("-", "").replace("'", "")
        if not (core.isalpha() and part[0].isupper() and any(c.islower() for c in core)):
            return False
    return True


def _age_fits(born: dt.date, today: dt.date) -> bool:
    years = (today - born).days / 365.25
    return 0 <= years <= MAX_AGE_YEARS


def _parse_date(text: str) -> dt.date | None:
    head = text[:10]
    for form in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(head, form).date()
        except ValueError:
            continue
    if len(text) == 8 and text.isdigit():
        try:
            return dt.datetime.strptime(text, "%Y%m%d").date()
        except ValueError:
            return None
    return None


def _classify(value, named: str | None, today: dt.date) -> str | None:
    """The kind of identifier one sampled value looks like (first pattern that matches)."""
    if isinstance(value, dt.date):  # datetime and pandas Timestamp too
        born = value.date() if isinstance(value, dt.datetime) else value
        return BIRTH if named == BIRTH and _age_fits(born, today) else None
    text = value
    if not text or len(text) > 200:
        return None
    if "@" in text and _EMAIL_RE.fullmatch(text):
        return EMAIL
    if _is_ip(text):
        return IP
    if _SSN_RE.fullmatch(text):
        return NATIONAL_ID
    if _CARD_RE.fullmatch(text):
        digits = re.sub(r"\D", "", text)
        if _luhn(digits) and len(set(digits)) > 1:
            return CARD
    if _ADDRESS_RE.match(text):
        return ADDRESS
    if _DATE_RE.fullmatch(text) or (named == BIRTH and len(text) == 8 and text.isdigit()):
        if named != BIRTH:
            return None  # a date, not an identifier on its own; never a phone number
        born = _parse_date(text)
        return BIRTH if born is not None and _age_fits(born, today) else None
    if _is_person(text, single=named == PERSON):
        return PERSON
    digits = sum(c.isdigit() for c in text)
    if 7 <= digits <= 15:
        if text.isdigit():
            if named == PHONE:
                return PHONE
            if named == NATIONAL_ID and digits == 9:
                return NATIONAL_ID
        elif (
            _PHONE_RE.fullmatch(text)
            and not _DECIMAL_RE.fullmatch(text)
            and not re.search(r"[ ().-]{3}", text)
            and not ("." in text and min(map(len, text.split("."))) < 2)  # a version, 1.2.0.4567
        ):
            return PHONE
    if named == POSTCODE and _POSTCODE_RE.fullmatch(text):
        return POSTCODE
    return None


def _sample(series: pd.Series, sample_rows: int) -> pd.Series:
    present = series[series.notna().to_numpy(dtype=bool)]
    if len(present) > sample_rows:
        picks = np.random.default_rng(0).choice(len(present), sample_rows, replace=False)
        present = present.iloc[np.sort(picks)]
    return present


def _texts(sample: pd.Series) -> list | None:
    """Sampled values as stripped strings (dates kept as dates); None: content says nothing."""
    dtype = sample.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return None
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return list(sample)
    if pd.api.types.is_numeric_dtype(dtype):
        values = sample.to_numpy()
        if pd.api.types.is_float_dtype(dtype):
            return [
                str(int(v)) if math.isfinite(v) and float(v).is_integer() else str(v)
                for v in values
            ]
        return [str(v) for v in values]
    out = []
    for value in sample.to_numpy(dtype=object):
        if isinstance(value, dt.date):
            out.append(value)
        elif isinstance(value, bool | np.bool_):
            out.append("")
        else:
            out.append(str(value).strip())
    return out


def _scan_column(series: pd.Series, label, sample_rows: int, today: dt.date) -> dict:
    """The most confident kind of identifier in one column, with its evidence."""
    named, name_confidence = _name_evidence(label)
    sample = _sample(series, sample_rows)
    values = _texts(sample)
    sampled = len(sample)
    if values is None or (
        sampled >= VETO_MIN_VALUES and len({str(v) for v in values}) <= 2
    ):  # a flag, not an identifier: the name is no evidence and the content none either
        named, name_confidence, values = None, 0.0, []
    kinds = [_classify(v, named, today) for v in values]
    counts = Counter(k for k in kinds if k is not None)
    candidates = []
    for kind, count in counts.items():
        share = count / len(values)
        if share < MIN_SHARE:
            continue
        if kind == PERSON and named != PERSON:
            matched = {v for v, k in zip(values, kinds, strict=True) if k == PERSON}
            if len(matched) < PERSON_DISTINCT * count:
                continue
        content = CONTENT_CEILING * share
        if kind == named:
            both = max(name_confidence, content) + (BOTH_BONUS if share >= 0.5 else 0.0)
            candidates.append((min(both, BOTH_CEILING), kind, "name+content", share))
        else:
            candidates.append((content, kind, "content", share))
    if named is not None and not any(kind == named for _, kind, _, _ in candidates):
        share = counts.get(named, 0) / len(values) if values else math.nan
        candidates.append((name_confidence, named, "name", share))
    row = {"column": str(label), "kind": None, "confidence": 0.0, "evidence": None}
    if candidates:
        confidence, kind, evidence, share = max(candidates, key=lambda c: c[0])
        row.update(kind=kind, confidence=round(confidence, 4), evidence=evidence, share=share)
    else:
        row["share"] = math.nan
    row["sampled"] = sampled
    return row


def _declared(identifiers) -> set[str]:
    if identifiers is None:
        return set()
    if isinstance(identifiers, str) or not isinstance(identifiers, Iterable):
        identifiers = [identifiers]
    return {str(c) for c in identifiers}


def _scan(frame: pd.DataFrame, sample_rows: int, identifiers) -> list[dict]:
    """One row per column (in order): its best kind, confidence and evidence."""
    declared = _declared(identifiers)
    today = dt.date.today()
    rows = []
    for position, label in enumerate(frame.columns):
        row = _scan_column(frame.iloc[:, position], label, sample_rows, today)
        row["label"] = label
        if str(label) in declared:
            row.update(confidence=1.0, evidence="declared", kind=row["kind"] or "declared")
        rows.append(row)
    return rows


def _check_options(frame, sample_rows, min_confidence) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if isinstance(sample_rows, bool) or not isinstance(sample_rows, int | np.integer):
        raise UsageError(f"sample_rows must be a positive integer, got {sample_rows!r}")
    if sample_rows < 1:
        raise UsageError(f"sample_rows must be at least 1, got {sample_rows!r}")
    if (
        isinstance(min_confidence, bool)
        or not isinstance(min_confidence, int | float | np.floating)
        or not 0 < min_confidence <= 1
    ):
        raise UsageError(f"min_confidence must be in (0, 1], got {min_confidence!r}")


def identifier_columns(
    frame: pd.DataFrame,
    min_confidence: float = 0.5,
    *,
    sample_rows: int = 1000,
    identifiers: Iterable[str] = (),
) -> list[str]:
    """The columns of ``frame`` that hold direct identifiers (nothing is recorded).

    The same rule as :func:`pii` (see the module docstring), as a plain list for code that
    masks or pseudonymises columns: the column labels, in frame order, whose confidence
    reaches ``min_confidence``, declared ``identifiers`` included.
    """
    _check_options(frame, sample_rows, min_confidence)
    return [
        row["label"]
        for row in _scan(frame, int(sample_rows), identifiers)
        if row["kind"] is not None and row["confidence"] >= min_confidence
    ]


def _confidence_text(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


@check("pii", version=1, roles={"frame": "data"})
def pii(
    frame: pd.DataFrame,
    *,
    sample_rows: int = 1000,
    min_confidence: float = 0.5,
    identifiers: Iterable[str] = (),
    name: str = "pii",
) -> CheckResult:
    """Find the columns that hold direct identifiers (names, e-mails, phones, ids, addresses).

    Each column's name and a sample of its values are weighed for each kind of identifier:
    e-mail, phone, national id (US SSN), card number (Luhn-valid), IP address, street address,
    person name, date of birth, and postcode as a quasi-identifier. Confidence:

    * name alone 0.6 (postcode 0.5; a column called just ``name`` 0.35);
    * content alone 0.95 x the share of sampled values of that kind (under 10% ignored);
    * both: the larger, plus 0.1 when at least half the values match (at most 0.99);
    * a column listed in ``identifiers``: 1.0, evidence ``declared``.

    The module docstring lists the name words and value patterns. No value is ever copied
    into the result, so recording it puts no identifier in the trail.

    Parameters
    ----------
    frame : pandas.DataFrame
        The table.
    sample_rows : int
        Non-missing values examined per column: all when fewer, else this many drawn with a
        fixed seed (the same table always gives the same verdict).
    min_confidence : float
        A column whose confidence reaches this, in (0, 1], is flagged.
    identifiers : list of str
        Columns known to identify people (``[tool.nbtrail.privacy] identifiers``): always
        flagged. Names absent from this frame are ignored.
    name : str
        The check's name.

    Returns
    -------
    CheckResult
        ``fail`` when any column is flagged, else ``pass``. ``details``: one row per flagged
        column: ``column``, ``kind``, ``confidence``, ``evidence`` (``name``, ``content``,
        ``name+content`` or ``declared``), ``share`` of sampled values matching the kind
        (NaN when nothing was sampled), ``sampled`` (values examined). No values.
    """
    _check_options(frame, sample_rows, min_confidence)
    scanned = _scan(frame, int(sample_rows), identifiers)
    flagged = [
        row for row in scanned if row["kind"] is not None and row["confidence"] >= min_confidence
    ]
    flagged.sort(key=lambda row: -row["confidence"])  # stable: frame order among equals
    details = pd.DataFrame(
        [{key: row[key] for key in DETAIL_COLUMNS} for row in flagged], columns=DETAIL_COLUMNS
    )
    columns = int(frame.shape[1])
    if flagged:
        listed = ", ".join(
            f"{row['column']} ({row['kind']}, {_confidence_text(row['confidence'])})"
            for row in flagged[:5]
        )
        more = f" and {len(flagged) - 5} more" if len(flagged) > 5 else ""
        summary = (
            f"{len(flagged)} of {columns} column{'s' if columns != 1 else ''} "
            f"hold identifiers: {listed}{more}"
        )
    else:
        summary = f"no identifiers found in {columns} column{'s' if columns != 1 else ''}"
    metrics = {
        "columns_scanned": columns,
        "columns_flagged": len(flagged),
        "values_sampled_max": max((row["sampled"] for row in scanned), default=0),
    }
    thresholds = {"columns_flagged": 0, "min_confidence": float(min_confidence)}
    return CheckResult(name, "fail" if flagged else "pass", summary, metrics, thresholds, details)


def _body(result) -> str:
    details = result.details
    chart = ""
    if details is not None and len(details) and {"column", "confidence"} <= set(details.columns):
        chart = bar_chart(
            zip(details["column"].astype(str), details["confidence"], strict=True),
            caption="confidence per flagged column",
        )
    return (
        metrics_table(result.metrics or {}, result.thresholds or {})
        + chart
        + findings_table(details)
    )


register_renderer("pii", body=_body, filters=("kind", "evidence"), measure=("confidence",))
