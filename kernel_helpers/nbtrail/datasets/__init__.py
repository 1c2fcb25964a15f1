"""Real datasets bundled for demos, templates and tests (UCI, CC BY 4.0; see README.md here)."""

from __future__ import annotations

import gzip
from importlib.resources import files
from pathlib import Path

__all__ = ["ADULT_COLUMNS", "ADULT_CREDIT", "adult_path", "load_adult", "write_adult_csv"]

ADULT_CREDIT = (
    "Adult (Census Income), Becker and Kohavi (1996), UCI Machine Learning Repository, "
    "doi:10.24432/C5XW20, CC BY 4.0"
)

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
