"""``nbtrail run`` beside plain ``papermill`` on the same template, in the same run.

    python benchmarks/bench_run.py [--repeat 3]

The template is the bundled ``train.ipynb`` (a scikit-learn pipeline on the Adult data,
prepared once beforehand with ``prepare_data.ipynb``). Each repetition runs, alternately,
``papermill train.ipynb out.ipynb`` and ``nbtrail run train.ipynb``, both as command-line
processes, so both pay their kernel start-up. ``nbtrail run`` additionally checks parameters,
records the run, loads capture in the kernel, and stores the executed notebook.

Target: at most 10% plus one second of added time. The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbtrail.demo import templates_dir


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    templates = templates_dir()
    bin_dir = Path(sys.executable).parent
    nbtrail, papermill = str(bin_dir / "nbtrail"), str(bin_dir / "papermill")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        env_home = work / ".nbtrail"
        os.environ["NBTRAIL_HOME"] = str(env_home)
        subprocess.run(
            [nbtrail, "run", str(templates / "prepare_data.ipynb")],
            cwd=work,
            check=True,
            capture_output=True,
        )
        template = str(templates / "train.ipynb")
        plain, audited = [], []
        for _ in range(args.repeat):
            plain.append(
                timed([papermill, template, str(work / "out.ipynb"), "--no-progress-bar"], work)
            )
            audited.append(timed([nbtrail, "run", template], work))
    p, n = statistics.median(plain), statistics.median(audited)
    added = n - p
    budget = 0.10 * p + 1.0
    verdict = "within" if added <= budget else "OVER"
    print(
        f"papermill: {', '.join(f'{t:.2f}' for t in plain)} s; nbtrail run: "
        f"{', '.join(f'{t:.2f}' for t in audited)} s"
    )
    print(
        f"nbtrail run vs papermill on train.ipynb (median of {args.repeat}): {n:.2f} s vs "
        f"{p:.2f} s, +{added:.2f} s (+{added / p * 100:.0f}%), {verdict} the 10% + 1 s budget "
        f"({budget:.2f} s)"
    )


if __name__ == "__main__":
    main()
