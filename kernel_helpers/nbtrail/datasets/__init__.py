"""Real datasets bundled for demos, templates and tests (UCI, CC BY 4.0; see README.md here)."""

from __future__ import annotations

import gzip
from importlib.resources import files
from pathlib import Path

__all__ = [
    "ADULT_COLUMNS",
    "ADULT_CREDIT",
    "GERMAN_COLUMNS",
    "GERMAN_CREDIT",
    "adult_path",
    "load_adult",
    "load_german",
    "write_adult_csv",
]

ADULT_CREDIT = (
    "Adult (Census Income), Becker and Kohavi (1996), UCI Machine Learning Repository, "
    "doi:10.24432/C5XW20, CC BY 4.0"
)

GERMAN_CREDIT = (
    "Statlog (German Credit Data), Hofmann (1994), UCI Machine Learning Repository, "
    "doi:10.24432/C5NC77, CC BY 4.0"
)

# The UCI file's 20 attributes and its class, in file order (``personal_status`` is coded as
# ``status_sex`` in values_maps.json: it mixes sex and marital status).
GERMAN_COLUMNS = [
    "status",
    "duration",
    "credit_history",
    "purpose",
    "credit_amount",
    "savings",
    "present_employment",
    "installment_rate",
    "personal_status",
    "other_debtors",
    "present_residence",
    "property",
    "age",
    "installment_plans",
    "housing",
    "existing_credits",
    "job",
    "people_liable",
    "telephone",
    "foreign_worker",
    "credit",
]

ADULT_COLUMNS = [
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "sex",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income",
]


def adult_path(split: str = "train") -> Path:
    """Return the path of the bundled, gzip-compressed Adult file (``train`` or ``test``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    name = "adult.data.gz" if split == "train" else "adult.test.gz"
    return Path(str(files(__package__).joinpath("adult", name)))


def write_adult_csv(target: str | Path, split: str = "train") -> Path:
    """Write the Adult split as a CSV file with a header row; return its path.

    The values are the UCI file's own (leading spaces stripped, ``?`` kept as the missing
    marker, the test file's trailing dots removed from labels) so that reading the CSV is
    ordinary pandas work.
    """
    target = Path(target)
    source = adult_path(split)
    with gzip.open(source, "rt", encoding="utf-8") as fh, target.open("w", encoding="utf-8") as out:
        out.write(",".join(ADULT_COLUMNS) + "\n")
        for line in fh:
            line = line.strip()
            if not line or line.startswith("|"):
                continue
            fields = [f.strip() for f in line.split(",")]
            if len(fields) != len(ADULT_COLUMNS):
                continue
            fields[-1] = fields[-1].rstrip(".")
            out.write(",".join(fields) + "\n")
    return target


def load_adult(split: str = "train"):
    """Return the Adult split as a pandas DataFrame (``?`` read as missing)."""
    import pandas as pd

    frame = pd.read_csv(
        adult_path(split),
        header=None,
        names=ADULT_COLUMNS,
        skipinitialspace=True,
        na_values="?",
        comment="|",
    )
    frame["income"] = frame["income"].str.rstrip(".")
    return frame


def load_german():
    """Return German credit as a DataFrame: codes decoded, target ``credit`` (good/bad).

    The coded attributes are replaced by their meanings from ``values_maps.json``; numeric
    ones (``age``, ``duration``, ``credit_amount``...) stay numbers. ``sex`` (``male`` or
    ``female``) is derived from ``personal_status``, the usual sensitive feature here.
    """
    import json

    import pandas as pd

    folder = files(__package__).joinpath("german")
    maps = json.loads(folder.joinpath("values_maps.json").read_text(encoding="utf-8"))
    maps["personal_status"] = maps.pop("status_sex")
    with gzip.open(Path(str(folder.joinpath("german.data.gz"))), "rt", encoding="utf-8") as fh:
        frame = pd.read_csv(fh, sep=" ", header=None, names=GERMAN_COLUMNS, dtype=str)
    for column in GERMAN_COLUMNS:
        if column in maps:
            frame[column] = frame[column].map(maps[column])
        else:
            frame[column] = pd.to_numeric(frame[column])
    frame["sex"] = frame["personal_status"].str.split(":").str[0].str.strip().astype("str")
    return frame
