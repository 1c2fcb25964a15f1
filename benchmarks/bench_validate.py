"""Schema validation of 10M rows x 20 columns: nbtrail, plain pandera and Great Expectations.

    python benchmarks/bench_validate.py [--rows 10000000] [--repeat 6]

The rules are the schema nbtrail infers from a clean 100,000-row sample (column types, no
nulls, no extra or missing columns, numeric ranges with 50% tolerance, allowed categories).
The batch has 0.1% of its values broken (half out of range in ``f0``, half an unknown category
in ``s0``). Contenders, same batch, same rules, in this process:

* **pandera**: the schema's own ``pandera.DataFrameSchema.validate(batch, lazy=True)``, which
  collects every failing value;
* **nbtrail**: ``nbtrail.checks.validate(batch, schema)``: the same pandera call, plus what
  nbtrail adds: every failure aggregated per column and rule (counts, examples, rows) and the
  full batch fingerprinted;
* **Great Expectations** (benchmark environment only): an expectation suite holding the same
  rules (``ExpectTableColumnsToMatchSet`` exact, ``ExpectColumnValuesToBeOfType``,
  ``ExpectColumnValuesToNotBeNull``, ``ExpectColumnValuesToBeBetween``,
  ``ExpectColumnValuesToBeInSet``), run by a ``ValidationDefinition`` on the in-memory frame
  with its default ``BASIC`` result format (per-rule counts and a few examples: what nbtrail
  reports too). The ephemeral context, data source, suite and validation definition are built
  before timing, once; its progress bars are off.

All three must find the same number of failing values (asserted). Every contender runs once
untimed on the full batch (warm-up; its result is the one compared), then ``--repeat`` times,
in an order that changes every repeat (rotated, and reversed every other cycle: with 3
contenders, 6 repeats go through all 6 orders). After every run, untimed, 2 GiB is allocated,
touched and freed twice: without it, whatever ran right after Great Expectations paid up to
2 s more, all of it system time spent by the kernel on the memory GX had let go. Figures are
medians (a run during which other
processes took CPU is run again: ``_machine.py``). Imports are not timed. The last
line is the one to quote.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics

import numpy as np
import pandas as pd
import pandera.pandas as pa
from _machine import contention_note, timed, versus, wait_for_quiet

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


def settle() -> None:
    """Untimed, between runs: have the kernel hand back the memory the last run let go."""
    for _ in range(2):
        block = np.ones(1 << 28)  # 2 GiB, every page touched
        del block


def order(names: list[str], r: int) -> list[str]:
    """Repeat ``r``'s order: rotated by ``r``, reversed every other cycle (with 3 contenders,
    6 repeats go through every order once, so each follows each other one equally often)."""
    k = r % len(names)
    rotated = names[k:] + names[:k]
    return rotated if (r // len(names)) % 2 == 0 else rotated[::-1]


def measure(contenders: dict, repeat: int) -> tuple[dict[str, float], dict]:
    """One untimed warm-up run each, then ``repeat`` timed runs each, order changing."""
    names = list(contenders)
    results = {name: contenders[name]() for name in names}
    settle()
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for r in range(repeat):
        for name in order(names, r):
            times[name].append(timed(contenders[name]))
            settle()
        print(
            f"repeat {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f}s" for n in order(names, r)),
            flush=True,
        )
    return {name: statistics.median(values) for name, values in times.items()}, results


def great_expectations_validator(schema, sample: pd.DataFrame):
    """Return a function that validates a frame with GX against the same rules, or None."""
    if importlib.util.find_spec("great_expectations") is None:
        return None
    try:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = context.data_sources.add_pandas("bench")
        asset = source.add_dataframe_asset("batch")
        definition = asset.add_batch_definition_whole_dataframe("all")
        rules = [
            gx.expectations.ExpectTableColumnsToMatchSet(
                column_set=list(schema.pandera.columns), exact_match=True
            )
        ]
        for name, column in schema.pandera.columns.items():
            # The type as GX names it for pandas: the dtype of the sample the schema came from.
            rules.append(
                gx.expectations.ExpectColumnValuesToBeOfType(
                    column=name, type_=str(sample[name].dtype)
                )
            )
            if not column.nullable:
                rules.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=name))
            for check in column.checks:
                stats = check.statistics
                if "min_value" in stats:
                    rules.append(
                        gx.expectations.ExpectColumnValuesToBeBetween(
                            column=name, min_value=stats["min_value"], max_value=stats["max_value"]
                        )
                    )
                elif "allowed_values" in stats:
                    rules.append(
                        gx.expectations.ExpectColumnValuesToBeInSet(
                            column=name, value_set=list(stats["allowed_values"])
                        )
                    )
                else:
                    raise ValueError(f"no GX expectation for pandera check {check.name}")
        suite = context.suites.add(gx.ExpectationSuite("same-rules", expectations=rules))
        validation = context.validation_definitions.add(
            gx.ValidationDefinition(data=definition, suite=suite, name="bench")
        )
    except Exception as exc:  # noqa: BLE001 - a peer that does not run here is reported, not fatal
        print(f"Great Expectations could not be set up here: {type(exc).__name__}: {exc}")
        return None

    def run(batch: pd.DataFrame) -> int:
        result = validation.run(batch_parameters={"dataframe": batch})
        failed = [r for r in result.results if r.exception_info.get("raised_exception")]
        if failed:
            raise RuntimeError(failed[0].exception_info.get("exception_message"))
        return sum(int(r.result.get("unexpected_count") or 0) for r in result.results)

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=6)
    args = parser.parse_args()
    sample = make_batch(100_000, seed=1)
    schema = checks.infer_schema(sample, range_tolerance=0.5)
    batch = make_batch(args.rows, seed=2)
    rng = np.random.default_rng(3)
    broken = rng.choice(args.rows, size=args.rows // 1000, replace=False)
    batch.loc[broken[: len(broken) // 2], "f0"] = 1e6
    batch.loc[broken[len(broken) // 2 :], "s0"] = "atlantis"
    print(f"batch: {args.rows:,} rows x {batch.shape[1]} columns, {len(broken):,} broken values")

    def plain() -> int:
        try:
            schema.pandera.validate(batch, lazy=True)
        except pa.errors.SchemaErrors as exc:
            return len(exc.failure_cases)
        return 0

    contenders = {
        "pandera": plain,
        "nbtrail": lambda: checks.validate(batch, schema).metrics["failures"],
    }
    gx_run = great_expectations_validator(schema, sample)
    if gx_run is not None:
        contenders["Great Expectations"] = lambda: gx_run(batch)
    wait_for_quiet()
    times, found = measure(contenders, args.repeat)
    assert len(set(found.values())) == 1, found  # the same findings, every contender
    print(contention_note())
    t = times
    gx_part = (
        f"; vs Great Expectations {t['nbtrail']:.2f} s vs {t['Great Expectations']:.2f} s, "
        f"{versus(t['nbtrail'], t['Great Expectations'], digits=2)}"
        if "Great Expectations" in t
        else "; Great Expectations not measured here"
    )
    print(
        f"validate {args.rows:,} rows x 20 columns, same rules, same {found['nbtrail']:,} "
        f"failures found, median of {args.repeat}: nbtrail (every failure aggregated, the batch "
        f"fingerprinted) vs pandera {t['nbtrail']:.2f} s vs {t['pandera']:.2f} s, "
        f"{versus(t['nbtrail'], t['pandera'], digits=2)}{gx_part}"
    )


if __name__ == "__main__":
    main()
