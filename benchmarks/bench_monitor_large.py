"""Drift and schema validation over N GB of Parquet, streamed, under a 2 GB memory cap.

    python benchmarks/bench_monitor_large.py [--gb 20] [--peer-gb 0.1] [--cap-gb 2] [--keep DIR]

The data compresses well (about 12 bytes a row, 80 million rows a GB), so the in-memory peer
reads 0.1 GB by default: 8 million rows, about 2 GB of pandas memory. ``--keep DIR`` keeps the
data and reuses it on the next run.

Generates ``--gb`` GB of Parquet with an Adult-like schema (6 integer columns, 9 text
columns) in bounded memory, one file of ``--rows-per-file`` rows at a time; the second half of
the files is shifted (``age`` +3 years, ``hours_per_week`` x1.1, a tenth of ``workclass``
moved to ``Self-emp-inc``). The reference is a profile and a schema of 200,000 unshifted rows.

Then, in a child process of its own: ``drift_dataset`` (every column) and ``validate_dataset``
over the whole dataset, timed, with the child's peak memory. The cap: a memory cgroup when one
is writable (v2 ``/sys/fs/cgroup``, or v1 ``/sys/fs/cgroup/memory``); otherwise no cap is
enforced (RLIMIT_AS is unreliable with arrow's allocator and mmap) and the line says so, with
the peak resident set size (``VmHWM``) as the measure. The peer: the in-memory path
(``pandas.read_parquet`` of ``--peer-gb`` GB, half unshifted, half shifted; then
``checks.drift`` and ``checks.validate``), in its own child, with its throughput and peak
memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

WORKCLASS = ["Private", "Self-emp-not-inc", "Local-gov", "State-gov", "Self-emp-inc",
             "Federal-gov", "Without-pay"]  # fmt: skip
EDUCATION = ["HS-grad", "Some-college", "Bachelors", "Masters", "Assoc-voc", "11th",
             "Assoc-acdm", "10th", "7th-8th", "Prof-school", "9th", "Doctorate"]  # fmt: skip
MARITAL = ["Married-civ-spouse", "Never-married", "Divorced", "Separated", "Widowed"]
OCCUPATION = ["Prof-specialty", "Craft-repair", "Exec-managerial", "Adm-clerical", "Sales",
              "Other-service", "Machine-op-inspct", "Transport-moving", "Handlers-cleaners",
              "Farming-fishing", "Tech-support", "Protective-serv"]  # fmt: skip
RELATIONSHIP = ["Husband", "Not-in-family", "Own-child", "Unmarried", "Wife", "Other-relative"]
RACE = ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"]
COUNTRY = ["United-States", "Mexico", "Philippines", "Germany", "Canada", "India", "England"]


def _pick(rng, labels, n, *, skew=1.2):
    p = 1 / np.arange(1, len(labels) + 1) ** skew
    return np.asarray(labels, dtype=object)[rng.choice(len(labels), size=n, p=p / p.sum())]


def adult_like(n: int, rng, *, shifted: bool = False):
    """An Adult-like frame of ``n`` rows (a few missing values, as Adult has)."""
    import pandas as pd

    age = rng.integers(17, 91, size=n) + (3 if shifted else 0)
    hours = rng.normal(40, 12, size=n).clip(1, 99)
    workclass = _pick(rng, WORKCLASS, n, skew=2.0)
    if shifted:
        workclass[rng.random(n) < 0.1] = "Self-emp-inc"
    workclass[rng.random(n) < 0.05] = None
    gain = np.where(rng.random(n) < 0.92, 0, rng.integers(100, 99_999, size=n))
    return pd.DataFrame(
        {
            "age": age,
            "workclass": workclass,
            "fnlwgt": rng.integers(12_000, 1_500_000, size=n),
            "education": _pick(rng, EDUCATION, n),
            "education_num": rng.integers(1, 17, size=n),
            "marital_status": _pick(rng, MARITAL, n),
            "occupation": _pick(rng, OCCUPATION, n, skew=0.8),
            "relationship": _pick(rng, RELATIONSHIP, n),
            "race": _pick(rng, RACE, n, skew=2.5),
            "sex": _pick(rng, ["Male", "Female"], n, skew=1.0),
            "capital_gain": gain,
            "capital_loss": np.where(rng.random(n) < 0.95, 0, rng.integers(100, 4_000, size=n)),
            "hours_per_week": np.round(hours * (1.1 if shifted else 1.0)).astype(np.int64),
            "native_country": _pick(rng, COUNTRY, n, skew=3.0),
            "income": _pick(rng, ["<=50K", ">50K"], n, skew=1.6),
        }
    )


def _write(frame, path: Path) -> None:
    """One file, row groups of 262,144 rows (what a streaming reader decodes at a time)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=1 << 18)


def generate(folder: Path, gb: float, rows_per_file: int, seed: int = 0, distinct: int = 0) -> dict:
    """Write files until ``gb`` GB are on disk; the second half shifted. Bounded memory.

    With ``distinct`` > 0, only that many files of each half are generated and the rest of the
    half are byte copies of them, taken in turn (generating is the slow part, about 166 s a GB
    here; reading a copy costs the checks exactly what reading its original does).
    """
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    sample = adult_like(rows_per_file, rng)
    _write(sample, folder / "part-00000.parquet")
    per_file = (folder / "part-00000.parquet").stat().st_size
    files = max(2, int(np.ceil(gb * 1e9 / per_file)))
    half = files // 2
    for i in range(1, files):
        target = folder / f"part-{i:05d}.parquet"
        first = 0 if i < half else half
        if distinct and i - first >= distinct:
            shutil.copyfile(folder / f"part-{first + (i - first) % distinct:05d}.parquet", target)
            continue
        _write(adult_like(rows_per_file, rng, shifted=i >= half), target)
    size = sum(p.stat().st_size for p in folder.glob("*.parquet"))
    return {"files": files, "rows": files * rows_per_file, "bytes": size}


def _own_cgroup(controller: str) -> str:
    """This process's cgroup path for ``controller`` ("" for the v2 unified hierarchy)."""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        if names.split(",") == [controller] or (not controller and not names):
            return path.lstrip("/")
    return ""


def _cgroup(cap_bytes: int):
    """A memory cgroup capped at ``cap_bytes``, nested in this process's own one, or None.

    Nested, so every limit and account above it still applies. Only a real cgroup file
    system counts (the kernel creates the control files of a new group).
    """
    for base, limit in (
        (Path("/sys/fs/cgroup") / _own_cgroup(""), "memory.max"),
        (Path("/sys/fs/cgroup/memory") / _own_cgroup("memory"), "memory.limit_in_bytes"),
    ):
        if not (base / "cgroup.procs").exists() or not (base / limit).exists():
            continue  # not a cgroup file system with a memory controller here
        group = base / f"nbtrail-bench-{os.getpid()}"
        try:
            group.mkdir()
        except OSError:
            continue
        try:
            (group / limit).write_text(str(cap_bytes))
            return group
        except OSError:
            group.rmdir()
    return None


def _peak_mb() -> float:
    """This process's peak resident set (VmHWM) in MB.

    Not ``ru_maxrss``: Linux carries that over from the parent across fork and exec, so a
    child of a big parent would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(mode: str, data: str, profile: str, schema: str, peer_files: int) -> dict:
    """Run the checks and report time and peak memory (this process)."""
    from nbtrail import checks
    from nbtrail.checks import drift_dataset, open_dataset, validate_dataset
    from nbtrail.monitor import Profile

    reference = Profile.load(profile)
    out = {}
    if mode == "streamed":
        dataset = open_dataset(data)
        out["bytes"] = sum(Path(f).stat().st_size for f in dataset.files)
        start = time.perf_counter()
        drift = drift_dataset(reference, dataset)
        out["drift_s"] = time.perf_counter() - start
        out["drift_peak_mb"] = _peak_mb()
        start = time.perf_counter()
        valid = validate_dataset(dataset, schema, max_failure_share=0.01)
        out["validate_s"] = time.perf_counter() - start
    else:
        import pandas as pd

        every = sorted(Path(data).glob("*.parquet"))
        half = max(peer_files // 2, 1)  # as many unshifted as shifted files
        files = every[:half] + every[-half:]
        out["bytes"] = sum(f.stat().st_size for f in files)
        start = time.perf_counter()
        frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
        out["read_s"] = time.perf_counter() - start
        start = time.perf_counter()
        drift = checks.drift(reference, frame)
        out["drift_s"] = time.perf_counter() - start
        start = time.perf_counter()
        valid = checks.validate(frame, schema, max_failure_share=0.01)
        out["validate_s"] = time.perf_counter() - start
    out["drift"] = drift.summary
    out["schema"] = f"{valid.status}: {valid.summary}"
    out["peak_mb"] = _peak_mb()
    return out


def _run_child(args, mode: str, folder: Path, work: Path, group) -> dict:
    command = [sys.executable, __file__, "--child", mode, "--data", str(folder),
               "--profile", str(work / "profile.json"), "--schema", str(work / "schema.yaml"),
               "--peer-files", str(args.peer_files)]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    if group is not None:
        (group / "cgroup.procs").write_text(str(process.pid))
    stdout, _ = process.communicate()
    if process.returncode:
        return {"error": f"exit {process.returncode} (killed by the cap?)"}
    return json.loads(stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gb", type=float, default=20.0)
    parser.add_argument("--peer-gb", type=float, default=0.1)
    parser.add_argument("--cap-gb", type=float, default=2.0)
    parser.add_argument("--rows-per-file", type=int, default=2_000_000)
    parser.add_argument("--keep", help="generate into (or reuse) this folder")
    parser.add_argument(
        "--distinct",
        type=int,
        default=0,
        help="generate this many files per half, copy the rest (0: every file generated)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--profile", help=argparse.SUPPRESS)
    parser.add_argument("--schema", help=argparse.SUPPRESS)
    parser.add_argument("--peer-files", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.data, args.profile, args.schema, args.peer_files)))
        return
    from nbtrail import checks
    from nbtrail.monitor import profile

    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="nbtrail-large-"))
    folder = work / "data"
    try:
        start = time.perf_counter()
        if args.keep and any(folder.glob("*.parquet")):  # reuse what an earlier run made
            parts = sorted(folder.glob("*.parquet"))
            made = {
                "files": len(parts),
                "rows": len(parts) * args.rows_per_file,
                "bytes": sum(p.stat().st_size for p in parts),
            }
        else:
            made = generate(folder, args.gb, args.rows_per_file, distinct=args.distinct)
        generated = time.perf_counter() - start
        print(
            f"generated {made['bytes'] / 1e9:.2f} GB: {made['files']} files, {made['rows']:,} "
            f"rows in {generated:.0f} s"
        )
        sample = adult_like(200_000, np.random.default_rng(1))
        profile(sample).save(work / "profile.json")
        checks.infer_schema(sample).to_yaml(work / "schema.yaml")
        cap = int(args.cap_gb * 2**30)
        group = _cgroup(cap)
        how = (
            f"under a {args.cap_gb:g} GB cgroup cap"
            if group
            else "no cap enforced (no writable memory cgroup); peak RSS reported"
        )
        per_file = made["bytes"] / made["files"]
        args.peer_files = max(2, round(args.peer_gb * 1e9 / per_file))
        streamed = _run_child(args, "streamed", folder, work, group)
        _report("streamed", streamed, how)
        peer = _run_child(args, "memory", folder, work, None)
        _report("in-memory (pandas)", peer, "no cap")
        if "error" not in streamed and "error" not in peer:
            s = streamed["bytes"] / (streamed["drift_s"] + streamed["validate_s"])
            p = peer["bytes"] / (peer["read_s"] + peer["drift_s"] + peer["validate_s"])
            print(f"throughput streamed / in-memory: {s / p:.2f}x; peak memory per GB of data: "
                  f"streamed {streamed['peak_mb'] / streamed['bytes'] * 1e9:.0f} MB, "
                  f"in-memory {peer['peak_mb'] / peer['bytes'] * 1e9:.0f} MB")  # fmt: skip
        if group is not None:
            group.rmdir()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def _report(label: str, out: dict, how: str) -> None:
    if "error" in out:
        print(f"{label}: {out['error']} ({how})")
        return
    total = out.get("read_s", 0.0) + out["drift_s"] + out["validate_s"]
    gb = out["bytes"] / 1e9
    read = f"read {out['read_s']:.1f} s + " if "read_s" in out else ""
    print(
        f"{label}: {gb:.2f} GB in {total:.1f} s ({read}drift {out['drift_s']:.1f} s + "
        f"validate {out['validate_s']:.1f} s) = {gb / total:.3f} GB/s overall, drift alone "
        f"{gb / out['drift_s']:.3f} GB/s; peak memory {out['peak_mb']:.0f} MB"
        + (f" (after drift {out['drift_peak_mb']:.0f} MB)" if "drift_peak_mb" in out else "")
        + f" ({how})\n"
        f"  drift: {out['drift']}\n  schema: {out['schema']}"
    )


if __name__ == "__main__":
    main()
