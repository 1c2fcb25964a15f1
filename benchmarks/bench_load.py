"""What ``%load_ext nbtrail`` costs the kernel's thread, in a real kernel.

    python benchmarks/bench_load.py [--repeat 7] [--source DIR]

Each measurement starts a fresh kernel (untimed) in a fresh folder with its own trail, runs an
untimed ``pass`` so the kernel is warm, then times, from this process, the wall time of one
execute request, request sent to reply received:

- "loaded": ``%load_ext nbtrail``;
- "not loaded": ``pass``, the same request doing nothing (the request's own overhead).

Then, in both, the next cell (``x = 1``), also timed: capture starts in the background, and the
first cell after loading waits for whatever of the start is left, so "load + next cell" is the
figure a notebook executed without pause (papermill) sees. The two variants alternate, in an
order reversed on every other repeat; medians. A measurement during which other processes took
CPU is run again (``_machine.py``).

``--source DIR`` runs the kernel on another copy of the package (a folder holding ``nbtrail``,
e.g. ``git archive HEAD kernel_helpers | tar -x -C /tmp/old`` then ``/tmp/old/kernel_helpers``),
to measure before and after. The last line is the one to quote.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _machine import Watch, alternating, contention_note, quietly, wait_for_quiet


def _kernel(folder: Path, source: str | None):
    from jupyter_client import KernelManager

    env = dict(os.environ, NBTRAIL_HOME=str(folder / ".nbtrail"))
    env.pop("NBTRAIL_NOTEBOOK", None)
    if source:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(folder), env=env, extra_arguments=["--IPKernelApp.log_level=ERROR"])
    kc = km.client()
    kc.start_channels()
    kc.wait_for_ready(timeout=120)
    return km, kc


def _request(kc, code: str) -> float:
    start = time.perf_counter()
    reply = kc.execute_interactive(code, timeout=120, output_hook=lambda msg: None)
    took = time.perf_counter() - start
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"{code!r} failed: {reply['content']}")
    return took


def _one(variant: str, source: str | None, where: list | None):
    """One fresh kernel: (first request seconds, next cell seconds), and whether contended."""
    folder = Path(tempfile.mkdtemp(prefix="nbtrail-bench-load-"))
    km, kc = _kernel(folder, source)
    try:
        _request(kc, "pass")
        with Watch() as watch:
            first = _request(kc, "%load_ext nbtrail" if variant == "loaded" else "pass")
            after = _request(kc, "x = 1")
        if where is not None:  # after the timed part: which copy of nbtrail the kernel ran
            kc.execute_interactive(
                "import nbtrail; print(nbtrail.__file__)",
                timeout=60,
                output_hook=lambda msg: where.append(msg["content"].get("text", "")),
            )
        return (first, after), watch.contended
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--source", help="folder holding the nbtrail package to measure")
    args = parser.parse_args()
    source = str(Path(args.source).resolve()) if args.source else None
    wait_for_quiet(120)
    where: list[str] = []
    _one("loaded", source, where)  # warm-up: disk caches; also says which nbtrail ran
    _one("not loaded", source, None)
    times: dict[str, list[tuple[float, float]]] = {"not loaded": [], "loaded": []}
    for r in range(args.repeat):
        for variant in alternating(list(times), r):
            times[variant].append(quietly(lambda v=variant: _one(v, source, None), watches=True))

    def med(variant: str, i: int) -> float:
        return statistics.median(t[i] for t in times[variant])

    load, plain = med("loaded", 0), med("not loaded", 0)
    both = med("loaded", 0) + med("loaded", 1)
    both_plain = med("not loaded", 0) + med("not loaded", 1)
    print(f"nbtrail from: {''.join(where).strip()}")
    print(f"execute request, medians of {args.repeat} fresh kernels each:")
    print(f"  %load_ext nbtrail  {load * 1000:8.1f} ms   pass  {plain * 1000:8.1f} ms")
    print(f"  + next cell        {both * 1000:8.1f} ms   pass  {both_plain * 1000:8.1f} ms")
    print(contention_note())
    print(
        f"%load_ext nbtrail costs the kernel's thread {(load - plain) * 1000:.0f} ms "
        f"({load * 1000:.0f} ms vs {plain * 1000:.0f} ms for an empty request); with the next "
        f"cell, which waits for the background start, {(both - both_plain) * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
