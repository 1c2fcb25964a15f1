"""The parallel-steps pipeline on a 2-worker Dask cluster beside the local executor.

    python benchmarks/bench_dask.py [--repeat 3]

The pipeline is the test suite's fan-out (``tests/test_pipeline.py``): three independent steps
``a``, ``b``, ``c`` and a ``join`` that needs all three, each a papermill run of
``tests/notebooks/template_modes.ipynb`` with capture in its kernel. Both contenders run it with
``run_pipeline(spec, workers=2, force=True)``, on a fresh SQLite trail each time:

- **dask**: ``executor="dask"``: a ``distributed.LocalCluster`` of 2 worker processes (one
  thread each) on 127.0.0.1, started by the executor, every worker checked before the first
  step (nbtrail, papermill, the template, the kernel, the trail), one task per step;
- **local**: ``executor="local"``: a pool of 2 fresh local processes.

Each time is the whole ``run_pipeline`` call: starting the workers and stopping them, both
sides; imports in this process are not timed. Each contender runs once untimed (warm-up), then
``--repeat`` times, the order reversed every other repeat; figures are medians (a run during
which other processes took CPU is run again: ``_machine.py``). How long the Dask cluster takes
to start, check its workers and stop is measured apart and printed beside. The last line is
the one to quote.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from _machine import contention_note, measure, timed, versus, wait_for_quiet

import nbtrail.pipeline._dask  # noqa: F401 - registers the "dask" executor
from nbtrail.pipeline.executors import get_executor
from nbtrail.pipeline.pipelines import run_pipeline
from nbtrail.pipeline.spec import load_spec
from nbtrail.store import open_or_create_trail

TEMPLATE = Path(__file__).parents[1] / "tests" / "notebooks" / "template_modes.ipynb"
FAN_OUT = """
name: fan-out
steps:
  - {name: a, template: template_modes.ipynb, parameters: {rows: 2, label: a}}
  - {name: b, template: template_modes.ipynb, parameters: {rows: 3, label: b}}
  - {name: c, template: template_modes.ipynb, parameters: {rows: 4, label: c}}
  - name: join
    template: template_modes.ipynb
    needs: [a, b, c]
    parameters: {rows: 5, label: "${a.outputs.total}+${b.outputs.total}"}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(TEMPLATE, work / TEMPLATE.name)
        spec = work / "fan-out.yaml"
        spec.write_text(FAN_OUT)
        os.chdir(work)
        runs = iter(range(1_000_000))

        def fresh_trail() -> None:
            home = work / f"trail-{next(runs)}"
            os.environ["NBTRAIL_HOME"] = str(home)
            open_or_create_trail().close()

        def contender(executor: str):
            def call():
                fresh_trail()
                result = run_pipeline(spec, workers=2, executor=executor, force=True)
                assert result.ok, result
                assert [s.status for s in result.steps] == ["succeeded"] * 4, result
                return result

            return call

        def cluster_only():
            executor = get_executor("dask", workers=2)
            try:
                executor.preflight(load_spec(spec))
            finally:
                executor.shutdown()

        fresh_trail()
        cluster_only()  # warm-up
        wait_for_quiet()
        medians, _ = measure({"local": contender("local"), "dask": contender("dask")}, args.repeat)
        overhead = statistics.median(timed(cluster_only) for _ in range(args.repeat))
    local, dask = medians["local"], medians["dask"]
    print(
        f"dask: cluster start, worker checks and stop {overhead:.2f} s of its {dask:.2f} s "
        f"(median of {args.repeat})"
    )
    print(contention_note())
    print(
        f"fan-out pipeline (3 parallel steps + join, papermill with capture), 2 workers, whole "
        f"run_pipeline call, median of {args.repeat}: dask LocalCluster {dask:.2f} s vs local "
        f"process pool {local:.2f} s: dask {versus(dask, local)}"
    )


if __name__ == "__main__":
    main()
