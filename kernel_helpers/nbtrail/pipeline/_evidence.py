"""What a recorded template run depended on, and whether it still holds: reuse and reproduce ask.

A run's evidence is everything recorded under it (its kernel session and cells): the files it
read and produced, the environment it ran in, how well capture saw it, and what it read that
capture cannot verify. A pipeline reuses a step only when all of it still holds, and says which
part did not when it does not; ``nbtrail reproduce`` restores and compares the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..capture import environment as _environment
from ..errors import FingerprintError
from ..fingerprints import fingerprint_file

__all__ = ["Evidence", "environment_diff", "evidence", "why_not_reusable"]

_OWN = ("template", "executed notebook", "environment")


@dataclass
class Evidence:
    """What a run and everything below it recorded."""

    run_id: str
    inputs: dict = field(default_factory=dict)  # path -> artifact read (and not produced)
    produced: dict = field(default_factory=dict)  # path -> artifact produced
    environment: object = None  # the environment artifact it used
    sessions: list = field(default_factory=list)  # its kernel sessions' records


def evidence(trail, run_id: str) -> Evidence:
    """Collect a run's evidence in a fixed number of queries."""
    details = trail.run_details(run_id, tree=True)
    found = Evidence(run_id)
    read = {}
    for usage in details.used:
        if usage.name == "environment" and usage.run_id == run_id:
            found.environment = usage.artifact
        if usage.path and usage.name not in _OWN:
            read.setdefault(usage.path, usage.artifact)
    for usage in details.produced:
        if usage.path and usage.name not in _OWN:
            found.produced[usage.path] = usage.artifact
    found.inputs = {p: a for p, a in read.items() if p not in found.produced}
    found.sessions = [r for r in details.runs.values() if r.kind == "session"]
    return found


def _changed(trail, path: str, digest: str) -> str | None:
    try:
        now = fingerprint_file(path, cache=trail.stat_cache).digest
    except FingerprintError:
        return "missing"
    return None if now == digest else "changed"


def why_not_reusable(trail, run, *, environment: str | None = None) -> str | None:
    """Why an earlier successful step run cannot stand in for a new one (None: it can).

    Parameters
    ----------
    trail : Trail
    run : RunRecord
        The earlier template run.
    environment : str, optional
        The current environment's fingerprint (computed once per pipeline run).
    """
    found = evidence(trail, run.id)
    if not found.sessions:
        return f"run {run.id[:8]} has no capture session: nothing proves what it read"
    for session in found.sessions:
        health = (session.attrs or {}).get("capture")
        if session.status != "succeeded" or health is None:
            return f"the capture of run {run.id[:8]} did not end cleanly ({session.status})"
        if not health.get("healthy", False):
            problems = [
                f"{health.get(key)} {label}"
                for key, label in (
                    ("errors", "capture errors"),
                    ("lost", "facts lost"),
                    ("unattributed", "reads capture could not attribute"),
                )
                if health.get(key)
            ]
            return f"capture of run {run.id[:8]} was not healthy: {', '.join(problems)}"
        if health.get("unverifiable"):
            first = (health.get("unverifiable_reads") or [{}])[0]
            what = f"{first.get('kind', '?')} {first.get('what', '')}".strip()
            return f"run {run.id[:8]} read what capture cannot verify: {what}"
    environment = environment or _environment.environment_fingerprint()[0].digest
    if found.environment is None or found.environment.id != environment:
        diff = environment_diff(trail, found.environment)
        return f"the environment changed since run {run.id[:8]}: {summarize_diff(diff)}"
    for path, artifact in sorted({**found.inputs, **found.produced}.items()):
        change = _changed(trail, path, artifact.id)
        if change is not None:
            role = "input" if path in found.inputs else "output"
            return f"{role} {trail.display_path(path)} is {change} since run {run.id[:8]}"
    return None


def environment_diff(trail, artifact) -> dict:
    """Packages added, removed and changed (and Python, platform) since a recorded environment."""
    if artifact is None or artifact.snapshot is None:
        return {"unknown": True}
    before = trail.load(artifact.id)
    now = _environment.describe_environment()

    def packages(env):
        return dict(p.split("==", 1) for p in env.get("packages", []) if "==" in p)

    old, new = packages(before), packages(now)
    diff = {
        "added": sorted(f"{k}=={new[k]}" for k in new.keys() - old.keys()),
        "removed": sorted(f"{k}=={old[k]}" for k in old.keys() - new.keys()),
        "changed": {k: (old[k], new[k]) for k in old.keys() & new.keys() if old[k] != new[k]},
    }
    for key in ("python", "platform"):
        if before.get(key) != now.get(key):
            diff[key] = (before.get(key), now.get(key))
    return diff


def summarize_diff(diff: dict) -> str:
    """An environment difference in a few words (``scikit-learn 1.7.2 -> 1.8.0``)."""
    if diff.get("unknown"):
        return "the earlier environment was not recorded"
    parts = [f"{name} {old} -> {new}" for name, (old, new) in sorted(diff["changed"].items())]
    parts += [f"{p} added" for p in diff["added"]] + [f"{p} removed" for p in diff["removed"]]
    for key in ("python", "platform"):
        if key in diff:
            parts.append(f"{key} {diff[key][0]} -> {diff[key][1]}")
    if not parts:
        return "the same packages, another environment"
    more = f" and {len(parts) - 3} more" if len(parts) > 3 else ""
    return ", ".join(parts[:3]) + more
