"""Costs users feel: tracebacks through hooked calls show no nbtrail frame at all.

The per-call overhead of hooked readers is a benchmark, not a timed test:
``benchmarks/bench_capture_calls.py``.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys

import pytest

from nbtrail.capture import hooks

ANSI = re.compile(r"\x1b\[[0-9;]*m")

ERROR_CELLS = (
    "import pickle, joblib\nimport pandas as pd",
    "with open('corrupt.pkl', 'rb') as fh:\n    pickle.load(fh)",
    "pd.read_csv('missing.csv')",
    "joblib.load('corrupt.joblib')",
    "from nbtrail.capture import hooks\nhooks.__file__",
)


@pytest.fixture
def home(tmp_path, monkeypatch):
    folder = tmp_path / "trail-home"
    monkeypatch.setenv("NBTRAIL_HOME", str(folder))
    return folder


def _errors(nb) -> list[tuple[str, str]]:
    found = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out["output_type"] == "error":
                found.append((out["ename"], ANSI.sub("", "\n".join(out["traceback"]))))
    return found


def test_failing_hooked_calls_show_only_the_users_and_the_librarys_frames(home, tmp_path):
    from test_capture import execute, notebook, outputs_text

    work = tmp_path / "costs"
    work.mkdir()
    (work / "corrupt.pkl").write_bytes(b"\x80\x05this is not a pickle")
    (work / "corrupt.joblib").write_bytes(b"not a joblib file either")
    plain = execute(notebook("pass", *ERROR_CELLS), work, allow_errors=True)
    captured = execute(notebook("%load_ext nbtrail", *ERROR_CELLS), work, allow_errors=True)
    hooks_file = outputs_text(captured.cells[-1]).strip().strip("'")
    package = hooks_file.rsplit("/capture/", 1)[0]
    plain_errors, captured_errors = _errors(plain), _errors(captured)
    assert [name for name, _ in captured_errors] == [name for name, _ in plain_errors]
    assert len(captured_errors) == 3
    for (_, plain_tb), (_, captured_tb) in zip(plain_errors, captured_errors, strict=True):
        assert package not in captured_tb and "hooks.py" not in captured_tb, captured_tb
        assert "skipping hidden" not in captured_tb
        assert captured_tb == plain_tb


def test_the_wrapper_cuts_its_own_frame_in_process():
    import io

    wrapped = hooks._io_wrapper(pickle.load, hooks.IOSpec("read", path="file"))
    with pytest.raises(pickle.UnpicklingError) as info:
        wrapped(io.BytesIO(b"\x80\x05garbage"))
    frames = []
    tb = info.value.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    package = os.path.dirname(os.path.dirname(hooks.__file__))
    assert frames and not [f for f in frames if f.startswith(package)], frames
    with pytest.raises(ValueError) as info:
        hooks._io_wrapper(int, hooks.IOSpec("read"))("not a number")
    assert info.value.__traceback__.tb_frame.f_code.co_filename == __file__


def test_bind_arguments_matches_bind_partial():
    import inspect

    def f(a, b=1, *rest, c=2, **extra):
        return a

    for args, kwargs in [((1,), {}), ((1, 2, 3, 4), {"c": 5, "z": 6}), ((), {"a": 1, "b": 2})]:
        expected = dict(inspect.signature(f).bind_partial(*args, **kwargs).arguments)
        expected = {k: tuple(v) if k == "rest" else v for k, v in expected.items()}
        assert hooks.bind_arguments(f, args, kwargs) == expected
    assert hooks.bind_arguments(f, (1,), {"a": 2}) == {}
    assert hooks.bind_arguments(lambda a: a, (1, 2), {}) == {}


LOOP_SCRIPT = """
import json, os, time
import pandas as pd
import nbtrail
from nbtrail.fingerprints import fingerprint

def age(path):  # a data file's stat is old enough to be trusted
    old = time.time_ns() - 60 * 10**9
    os.utime(path, ns=(old, old))

age("rows.csv")
with nbtrail.track("loop"):
    for _ in range(50):
        pd.read_csv("rows.csv")  # read and dropped at once
    df = pd.read_csv("rows.csv")
    df["b"] = df["b"] * 10  # changed in place after the read
    df.to_csv("out.csv", index=False)
    final = fingerprint(df).digest
    with open("rows.csv", "w") as fh:
        fh.write("a,b\\n7,7\\n")
    age("rows.csv")
    again = pd.read_csv("rows.csv")  # the same path, new bytes: a new read
print(json.dumps({"final": final}))
"""


def test_a_reader_loop_records_the_file_once_and_the_frame_as_it_was_used(home, tmp_path):
    from test_capture import open_trail

    work = tmp_path / "loop"
    work.mkdir()
    (work / "rows.csv").write_text("a,b\n1,0\n2,1\n")
    (work / "loop.py").write_text(LOOP_SCRIPT)
    done = subprocess.run(
        [sys.executable, "loop.py"], cwd=work, check=True, capture_output=True, text=True
    )
    final = json.loads(done.stdout.strip().splitlines()[-1])["final"]
    with open_trail(work) as trail:
        (run,) = trail.runs(name="loop")
        used = trail.run_details(run.id).used
        # The loop's 51 reads of one unchanged file are one input; the rewritten file another.
        assert [u.path for u in used if u.path].count(str(work / "rows.csv")) == 2
        frames = [a for a in trail.artifacts() if a.name.startswith("read:rows.csv")]
        assert len(frames) <= 2, [a.name for a in frames]  # not one per dropped frame
        out = trail.get_artifact(work / "out.csv")
        graph = trail.lineage(out.id, direction="upstream", depth=1)
        sources = {s.split(":", 1)[1] for s, t, kind in graph.edges if kind == "derived"}
        # out.csv derives from the frame as it was written, not as it was first read.
        assert sources == {final}
        assert trail.verify().ok
