"""Keep other processes' CPU out of the figures: the benchmarks may share a 2-core machine.

Every timed unit (one contender's call, one round, one notebook run) is watched: the CPU time
the whole machine spent (``/proc/stat``) minus what this process and its descendants spent
(``/proc/<pid>/stat``, children it reaped included) is what other processes took meanwhile.
A unit during which they took more than 10% of a core (and more than 30 ms) is run again, up
to 5 times; the benchmarks print how many units were run again and how many were kept though
contended. Before timing starts, a benchmark waits (up to 5 minutes) for a quiet machine.
Elsewhere than Linux nothing is watched.

The timing protocol every benchmark shares is here too: :func:`measure` (one untimed warm-up
call each, the same timed repeats each, the order alternating) and :func:`versus` (the ratio
in words a person can quote).
"""

from __future__ import annotations

import os
import statistics
import time

SHARE = 0.10  # of one core, that others may take during a timed unit
NOISE = 0.03  # CPU seconds below which others' time is accounting noise
TRIES = 5

_stats = {"redone": 0, "kept": 0}


def _watchable() -> bool:
    return os.path.exists("/proc/stat") and hasattr(os, "sysconf")


def _machine_busy() -> float:
    with open("/proc/stat") as fh:
        fields = fh.readline().split()[1:9]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def _own_busy() -> float:
    """CPU seconds of this process and its living descendants, reaped children included."""
    parent_of, ticks = {}, {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        parent_of[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    mine, grew = {os.getpid()}, True
    while grew:
        found = {pid for pid, parent in parent_of.items() if parent in mine} - mine
        mine |= found
        grew = bool(found)
    return sum(ticks.get(pid, 0) for pid in mine) / os.sysconf("SC_CLK_TCK")


class Watch:
    """Measure the CPU other processes take while the ``with`` block runs."""

    def __enter__(self) -> Watch:
        self.others = 0.0
        if _watchable():
            self._own, self._busy = _own_busy(), _machine_busy()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.perf_counter() - self._start
        if _watchable():
            own = _own_busy() - self._own
            self.others = max(0.0, _machine_busy() - self._busy - own)

    @property
    def contended(self) -> bool:
        return self.others > max(NOISE, SHARE * self.wall)


def quietly(fn, *, watches: bool = False):
    """Return ``fn()``, run again while other processes took CPU during it.

    With ``watches``, ``fn`` watches its own timed part: it returns ``(result, contended)``,
    so that untimed set-up inside it (a kernel starting) does not count.
    """
    for attempt in range(TRIES):
        if watches:
            result, contended = fn()
        else:
            with Watch() as watch:
                result = fn()
            contended = watch.contended
        if not contended:
            return result
        if attempt < TRIES - 1:
            _stats["redone"] += 1
            wait_for_quiet(60, say=False)
    _stats["kept"] += 1
    return result


def timed(fn) -> float:
    """Seconds one quiet call of ``fn`` took (see :func:`quietly`)."""

    def once() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start

    return quietly(once)


def wait_for_quiet(limit: float = 300, *, say: bool = True) -> bool:
    """Wait until other processes leave the CPU alone for a second; False after ``limit`` s."""
    deadline = time.monotonic() + limit
    told = False
    while time.monotonic() < deadline:
        with Watch() as watch:
            time.sleep(1.0)
        if not watch.contended:
            return True
        if say and not told:
            print("waiting for other processes to leave the CPU alone...", flush=True)
            told = True
    return False


def contention_note() -> str:
    """One line saying how many timed units had to be run again, and how many stayed noisy."""
    note = (
        f"machine: {os.cpu_count()} cores; {_stats['redone']} timed unit(s) run again because "
        f"other processes took CPU meanwhile"
    )
    if _stats["kept"]:
        note += f"; {_stats['kept']} kept though still contended: treat these figures with care"
    return note


def alternating(names: list[str], r: int) -> list[str]:
    """Repeat ``r``'s order: as given, then reversed, and so on."""
    return names if r % 2 == 0 else names[::-1]


def measure(contenders: dict, repeat: int, *, order=alternating, between=None):
    """One untimed warm-up call each, then ``repeat`` timed calls each, the order changing.

    Returns (median seconds by name, each contender's warm-up result). ``between`` runs,
    untimed, after every call (a benchmark that must let memory settle).
    """
    names = list(contenders)
    results = {name: contenders[name]() for name in names}
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeat):
        for name in order(names, r):
            times[name].append(timed(contenders[name]))
            if between is not None:
                between()
    return {name: statistics.median(values) for name, values in times.items()}, results


def versus(ours: float, theirs: float, *, digits: int = 1, words=("faster", "slower")) -> str:
    """nbtrail's figure against the peer's, as a factor a person can quote."""
    if ours <= theirs:
        return f"{theirs / ours:.{digits}f}x {words[0]}"
    return f"{ours / theirs:.{digits}f}x {words[1]}"
