"""A round over notebooks nobody here wrote: scikit-learn gallery examples, plain and captured.

The examples come from the scikit-learn source distribution of the installed version, fetched
from the package index (PEP 691 JSON) and cached in ``~/.cache/nbtrail-bench``; none is kept in
this repository. Each is converted to a notebook with jupytext and run in a fresh kernel, once
plain and once with ``%load_ext nbtrail`` as its first cell, interleaved, the order alternating
per repeat, BLAS pinned to one thread, matplotlib on Agg. The whole-run time includes the
kernel's start and ``%load_ext``; per-cell times pair each cell with itself across variants.

Each notebook's captured runs share one trail, made (untimed) before the round, as a
project's trail exists when its notebooks run; every run adds its own session to it. Making a
trail costs a further ~0.18 s once (the schema migrations import Alembic).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from pathlib import Path

from _machine import Watch, quietly

# Short examples on bundled or generated data (no download, no n_jobs=-1).
EXAMPLES = (
    "cluster/plot_kmeans_plusplus.py",
    "neighbors/plot_nearest_centroid.py",
    "svm/plot_separating_hyperplane.py",
    "feature_selection/plot_f_test_vs_mi.py",
    "neighbors/plot_regression.py",
    "compose/plot_feature_union.py",
    "miscellaneous/plot_roc_curve_visualization_api.py",
    "decomposition/plot_incremental_pca.py",
    "linear_model/plot_logistic.py",
    "model_selection/plot_confusion_matrix.py",
)
CACHE = Path.home() / ".cache" / "nbtrail-bench"
PINNED = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MPLBACKEND": "Agg",
}


def _sdist(version: str) -> Path:
    target = CACHE / f"scikit_learn-{version}.tar.gz"
    if target.is_file():
        return target
    request = urllib.request.Request(
        "https://pypi.org/simple/scikit-learn/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, timeout=60) as reply:
        files = json.load(reply)["files"]
    name = f"scikit_learn-{version}.tar.gz"
    (url,) = [f["url"] for f in files if f["filename"] == name]
    with urllib.request.urlopen(url, timeout=300) as reply:
        data = reply.read()
    CACHE.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return target


def gallery_notebooks(folder: Path, count: int) -> list[Path]:
    """Write the first ``count`` examples as notebooks in ``folder``; return their paths."""
    import jupytext
    import sklearn

    version = sklearn.__version__
    with tarfile.open(_sdist(version)) as archive:
        sources = {
            example: archive.extractfile(f"scikit_learn-{version}/examples/{example}").read()
            for example in EXAMPLES[:count]
        }
    paths = []
    for example, source in sources.items():
        nb = jupytext.reads(source.decode("utf-8"), fmt="py:sphinx")
        path = folder / (example.replace("/", "__").removesuffix(".py") + ".ipynb")
        jupytext.write(nb, path)
        paths.append(path)
    return paths


def _make_trail(home: Path) -> None:
    """Create a trail at ``home`` (untimed), as a project's trail exists before its runs."""
    make = "from nbtrail.store import open_or_create_trail as o; o('.').close()"
    subprocess.run(
        [sys.executable, "-c", make],
        cwd=home.parent,
        env={**os.environ, "NBTRAIL_HOME": str(home)},
        check=True,
        capture_output=True,
    )


def _run(path: Path, capture: bool, work: Path, home: Path) -> tuple[dict, bool]:
    """Run a notebook in a fresh kernel; return whole-run and per-cell seconds."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell

    nb = nbformat.read(path, as_version=4)
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    nb.cells.insert(0, new_code_cell("%load_ext nbtrail" if capture else "pass"))
    env = {**os.environ, **PINNED, "NBTRAIL_HOME": str(home)}
    if not capture:
        env.pop("NBTRAIL_HOME")
    client = NotebookClient(
        nb, kernel_name="python3", timeout=600, resources={"metadata": {"path": str(work)}}
    )
    cells = []
    with Watch() as watch:
        start = time.perf_counter()
        with client.setup_kernel(env=env):
            for index, cell in enumerate(nb.cells):
                began = time.perf_counter()
                client.execute_cell(cell, index)
                cells.append(time.perf_counter() - began)
        whole = time.perf_counter() - start
    return {"whole": whole, "cells": cells[1:], "load": cells[0]}, watch.contended


def gallery_round(folder: Path, count: int, repeat: int) -> dict:
    """Every example, plain and captured, ``repeat`` times each, interleaved."""
    notebooks = gallery_notebooks(folder, count)
    results = {p.stem: {"plain": [], "nbtrail": []} for p in notebooks}
    homes = {p.stem: folder / "trails" / p.stem / ".nbtrail" for p in notebooks}
    for home in homes.values():
        home.parent.mkdir(parents=True)
        _make_trail(home)
    for r in range(repeat):
        for path in notebooks:
            order = ("plain", "nbtrail") if r % 2 == 0 else ("nbtrail", "plain")
            for variant in order:

                def once(variant=variant, path=path):
                    work = Path(tempfile.mkdtemp(dir=folder))
                    return _run(path, variant == "nbtrail", work, homes[path.stem])

                results[path.stem][variant].append(quietly(once, watches=True))
        print(f"gallery repeat {r + 1} of {repeat} done", flush=True)
    return results


def summarise(results: dict) -> dict:
    """Per notebook: median whole-run times and slowdown; over all cells: median added ms."""
    per_notebook, added = {}, []
    for name, runs in results.items():
        plain = statistics.median(x["whole"] for x in runs["plain"])
        captured = statistics.median(x["whole"] for x in runs["nbtrail"])
        per_notebook[name] = {"plain": plain, "nbtrail": captured, "slower": captured / plain - 1}
        cells = len(runs["plain"][0]["cells"])
        for i in range(cells):
            before = statistics.median(x["cells"][i] for x in runs["plain"])
            after = statistics.median(x["cells"][i] for x in runs["nbtrail"])
            added.append(after - before)
    load = statistics.median(x["load"] for runs in results.values() for x in runs["nbtrail"])
    return {
        "notebooks": per_notebook,
        "cells": len(added),
        "added_ms": statistics.median(added) * 1000,
        "worst": max(per_notebook.items(), key=lambda kv: kv[1]["slower"]),
        "load_ms": load * 1000,
    }


def report(summary: dict) -> list[str]:
    """Lines to print: each notebook, then the one line to quote."""
    lines = [
        f"gallery {name}: plain {v['plain']:.2f} s, nbtrail {v['nbtrail']:.2f} s "
        f"({v['slower'] * 100:+.1f}%)"
        for name, v in summary["notebooks"].items()
    ]
    worst_name, worst = summary["worst"]
    lines.append(
        f"gallery ({len(summary['notebooks'])} scikit-learn examples, whole runs with kernel start "
        f"and %load_ext, BLAS on 1 thread): median added time per cell "
        f"{summary['added_ms']:+.2f} ms over {summary['cells']} cells; worst notebook "
        f"{worst['slower'] * 100:+.1f}% ({worst_name}); %load_ext {summary['load_ms']:.0f} ms"
    )
    return lines
