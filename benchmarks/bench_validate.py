"""Schema validation of 10M rows x 20 columns: nbtrail beside plain pandera, same rules, same data.

    python benchmarks/bench_validate.py [--rows 10000000] [--repeat 2]

The rules are the schema nbtrail infers from a clean sample (types, nullability, ranges with
tolerance, allowed categories): the same ``pandera.DataFrameSchema`` object is given to
pandera's own ``validate(lazy=True)`` and to ``nbtrail.checks.validate``, on a batch with
0.1% of its values broken. nbtrail's time includes what it adds: aggregating every failure per
column and rule, and fingerprinting the full batch it judged. Great Expectations is measured
too when it is installed (benchmark environment only) and works with this pandas.

The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np
import pandas as pd

from nbtrail import checks


def make_batch(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(10):
        data[f"f{i}"] = rng.normal(size=rows)
    for i in range(4):
        data[f"n{i}"] = rng.integers(0, 100, size=rows)
    words = np.array(["north", "south", "east", "west", "centre"])
    for i in range(6):
        data[f"s{i}"] = pd.Series(words[rng.integers(0, 5, size=rows)], dtype="str")
    return pd.DataFrame(data)


def best(repeat: int, fn):
    times, out = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return min(times), out


def great_expectations_time(batch: pd.DataFrame, schema) -> float | None:
    if importlib.util.find_spec("great_expectations") is None:
        return None
    try:
        import great_expectations as gx

        context = gx.get_context(mode="ephemeral")
        source = context.data_sources.add_pandas("bench")
        asset = source.add_dataframe_asset("batch")
        definition = asset.add_batch_definition_whole_dataframe("all")
        suite = gx.ExpectationSuite("same-rules")
        for name, column in schema.pandera.columns.items():
            for check in column.checks:
                stats = check.statistics
                if "min_value" in stats:
                    suite.add_expectation(
                        gx.expectations.ExpectColumnValuesToBeBetween(
                            column=name, min_value=stats["min_value"], max_value=stats["max_value"]
                        )
                    )
                elif "allowed_values" in stats:
                    suite.add_expectation(
                        gx.expectations.ExpectColumnValuesToBeInSet(
                            column=name, value_set=list(stats["allowed_values"])
                        )
                    )
            if not column.nullable:
                suite.add_expectation(gx.expectations.ExpectColumnValuesToNotBeNull(column=name))
        suite = context.suites.add(suite)
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(data=definition, suite=suite, name="bench")
        )
        start = time.perf_counter()
        validation.run(batch_parameters={"dataframe": batch})
        return time.perf_counter() - start
    except Exception as exc:  # noqa: BLE001 - a peer that does not run here is reported, not fatal
        print(f"Great Expectations did not run here: {type(exc).__name__}: {exc}")
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    schema = checks.infer_schema(make_batch(100_000, seed=1), range_tolerance=0.5)
    batch = make_batch(args.rows, seed=2)
    rng = np.random.default_rng(3)
    broken = rng.choice(args.rows, size=args.rows // 1000, replace=False)
    batch.loc[broken[: len(broken) // 2], "f0"] = 1e6
    batch.loc[broken[len(broken) // 2 :], "s0"] = "atlantis"
    print(f"batch: {args.rows:,} rows x {batch.shape[1]} columns, {len(broken):,} broken values")

    import pandera.pandas as pa

    def plain():
        try:
            schema.pandera.validate(batch, lazy=True)
        except pa.errors.SchemaErrors as exc:
            return len(exc.failure_cases)
        return 0

    t_pandera, failures = best(args.repeat, plain)
    t_nbtrail, result = best(args.repeat, lambda: checks.validate(batch, schema))
    assert result.metrics["failures"] == failures, (result.metrics, failures)  # same findings
    t_gx = great_expectations_time(batch, schema)
    print(
        f"pandera {t_pandera:.2f}s, nbtrail {t_nbtrail:.2f}s"
        + (f", Great Expectations {t_gx:.2f}s" if t_gx else "")
    )
    gx_part = (
        f"; Great Expectations {t_gx:.1f} s = {t_gx / t_nbtrail:.1f}x nbtrail's time"
        if t_gx
        else "; Great Expectations not measured here"
    )
    print(
        f"validate {args.rows:,} rows x 20 columns, same rules: nbtrail {t_nbtrail:.1f} s vs "
        f"pandera {t_pandera:.1f} s = {t_nbtrail / t_pandera:.2f}x pandera's time "
        f"(every failure aggregated, the batch fingerprinted){gx_part}"
    )


if __name__ == "__main__":
    main()
