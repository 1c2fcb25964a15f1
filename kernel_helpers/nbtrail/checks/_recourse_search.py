"""The counterfactual search behind :func:`~nbtrail.checks.recourse` (no DiCE, no randomness).

A row's features become *units* a person can act on: a numeric column, a categorical column,
or a group of redundant columns that change together (``education`` with ``education_num``),
whose values are the tuples observed together in the reference data. Immutable columns are no
unit at all. Candidate values come from the reference data (observed categories and tuples;
numeric values from its quantiles, inside the allowed range and direction), so proposals are
plausible.

The search widens one change at a time: every single change is scored (one ``predict_proba``
call for the whole batch); the changes that flip the decision are kept, the most promising
that do not form a beam extended by one more unit, up to ``max_changes``. Each flip is then
made cheaper the way growing spheres does it: changes that are not needed are undone, numeric
changes are pulled back toward the original by bisection while the decision stays flipped.
Candidates are a float matrix (rows x units): NaN means unchanged, a categorical unit holds an
index into its value table, a numeric one its new value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import UsageError

__all__ = ["Problem", "Unit", "search_row"]

MAX_CATEGORIES = 100  # most frequent values (or tuples) offered per categorical unit
GRID = 16  # numeric candidate values per unit
BEAM = 16  # partial candidates extended at each width
KEEP_PER_UNIT = 6  # single changes per unit offered for extension
BISECT_STEPS = 7


@dataclass
class Unit:
    """Columns changed together, and the values they may take."""

    columns: tuple
    numeric: bool
    scale: float = 1.0  # numeric: the distance unit (MAD, else std, else range)
    lo: float = -np.inf
    hi: float = np.inf
    direction: str | None = None  # numeric: "increase" | "decrease"
    integer: bool = False
    values: np.ndarray | None = None  # numeric: the grid
    table: pd.DataFrame | None = None  # categorical: one row per value (tuple) observed
    monotone: dict = field(default_factory=dict)  # categorical group: numeric member -> dir
    bounds: dict = field(default_factory=dict)  # categorical group: numeric member -> (lo, hi)

    @property
    def label(self) -> str:
        return self.columns[0]


@dataclass
class Problem:
    """What the model is asked about: its columns, units, the wanted class and the scorer."""

    columns: list
    dtypes: dict
    units: list
    evaluate: object  # frame -> (probability of the desired class, decision is desired)

    def flips(self, frame: pd.DataFrame) -> np.ndarray:
        return self.evaluate(frame)[1]


def _frame(problem: Problem, base: dict, cands: np.ndarray) -> pd.DataFrame:
    """The candidates as model input: the original row with each candidate's changes."""
    m = len(cands)
    data = {}
    for c in problem.columns:
        value = base[c]
        data[c] = np.full(m, value, dtype=object if isinstance(value, str) else None)
    for u, unit in enumerate(problem.units):
        col = cands[:, u]
        mask = ~np.isnan(col)
        if not mask.any():
            continue
        if unit.numeric:
            arr = data[unit.label].astype("float64")
            arr[mask] = col[mask]
            data[unit.label] = arr
        else:
            picks = col[mask].astype(int)
            for c in unit.columns:
                arr = data[c].astype(object)
                arr[mask] = unit.table[c].to_numpy(dtype=object)[picks]
                data[c] = arr
    return pd.DataFrame(data, columns=problem.columns).astype(problem.dtypes)


def _cost(problem: Problem, base: dict, cands: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Number of units changed, and the normalised distance (categorical: 1 per change)."""
    changed = ~np.isnan(cands)
    dist = np.zeros(len(cands))
    for u, unit in enumerate(problem.units):
        mask = changed[:, u]
        if unit.numeric:
            x = base[unit.label]
            step = np.abs(cands[mask, u] - float(x)) / unit.scale if pd.notna(x) else 1.0
            dist[mask] += step
        else:
            dist[mask] += 1.0
    return changed.sum(1), dist


def _singles(problem: Problem, base: dict) -> np.ndarray:
    """Every allowed single change of the row, one candidate each."""
    blocks = []
    n_units = len(problem.units)
    for u, unit in enumerate(problem.units):
        if unit.numeric:
            x = base[unit.label]
            values = unit.values
            if pd.notna(x):
                values = values[values != float(x)]
                if unit.direction == "increase":
                    values = values[values > float(x)]
                elif unit.direction == "decrease":
                    values = values[values < float(x)]
        else:
            table = unit.table
            keep = np.ones(len(table), dtype=bool)
            same = np.ones(len(table), dtype=bool)
            for c in unit.columns:
                same &= (table[c] == base[c]).to_numpy(dtype=bool, na_value=False)
            keep &= ~same
            for c, direction in unit.monotone.items():
                col = table[c].to_numpy(dtype="float64")
                keep &= col >= base[c] if direction == "increase" else col <= base[c]
            for c, (lo, hi) in unit.bounds.items():
                col = table[c].to_numpy(dtype="float64")
                keep &= (col >= lo) & (col <= hi)
            values = np.flatnonzero(keep).astype("float64")
        block = np.full((len(values), n_units), np.nan)
        block[:, u] = values
        blocks.append(block)
    return np.vstack(blocks) if blocks else np.empty((0, n_units))


def _unique(cands: np.ndarray) -> np.ndarray:
    if not len(cands):
        return cands
    keyed = np.where(np.isnan(cands), -np.inf, cands)
    _, first = np.unique(keyed, axis=0, return_index=True)
    return cands[np.sort(first)]


def _sparsify(problem: Problem, base: dict, flips: np.ndarray) -> np.ndarray:
    """Undo each change a flip does not need (one model call per pass over the units)."""
    out = flips.copy()
    for u in range(out.shape[1]):
        rows = np.flatnonzero(~np.isnan(out[:, u]) & ((~np.isnan(out)).sum(1) > 1))
        if not len(rows):
            continue
        trial = out[rows].copy()
        trial[:, u] = np.nan
        ok = problem.flips(_frame(problem, base, trial))
        out[rows[ok]] = trial[ok]
    return out


def _shrink(problem: Problem, base: dict, flips: np.ndarray) -> np.ndarray:
    """Pull numeric changes back toward the original while the decision stays flipped."""
    out = flips.copy()
    for u, unit in enumerate(problem.units):
        x = base[unit.label] if unit.numeric else None
        if not unit.numeric or pd.isna(x):
            continue
        rows = np.flatnonzero(~np.isnan(out[:, u]))
        if not len(rows):
            continue
        near = np.full(len(rows), float(x))  # does not flip (or is the original)
        far = out[rows, u].copy()  # flips
        for _ in range(BISECT_STEPS):
            mid = (near + far) / 2
            if unit.integer:
                mid = np.where(far > near, np.ceil(mid), np.floor(mid))
            moving = (mid != far) & (mid != float(x))
            if not moving.any():
                break
            trial = out[rows[moving]].copy()
            trial[:, u] = mid[moving]
            ok = problem.flips(_frame(problem, base, trial))
            idx = np.flatnonzero(moving)
            far[idx[ok]] = mid[idx[ok]]
            near[idx[~ok]] = mid[idx[~ok]]
        out[rows, u] = far
    return out


def _pick(problem: Problem, base: dict, found: np.ndarray, n: int) -> np.ndarray:
    """The cheapest flip per set of units changed, fewest changes first, up to ``n``."""
    if not len(found):
        return found
    found = _unique(found)
    n_changed, dist = _cost(problem, base, found)
    order = np.lexsort((dist, n_changed))
    chosen, seen = [], set()
    for i in order:
        key = tuple(np.flatnonzero(~np.isnan(found[i])))
        if key in seen:
            continue
        seen.add(key)
        chosen.append(i)
        if len(chosen) == n:
            break
    return found[chosen]


def search_row(
    problem: Problem, base: dict, *, n: int, max_changes: int, max_seconds: float
) -> tuple[np.ndarray, bool]:
    """Up to ``n`` flips for one row (candidate matrix), and whether time ran out."""
    start = time.perf_counter()
    singles = _singles(problem, base)
    if not len(singles):
        return singles, False
    scores, flipped = problem.evaluate(_frame(problem, base, singles))
    found = [singles[flipped]]
    # the best few values of each unit are what wider candidates are built from
    offer = []
    for u in range(singles.shape[1]):
        idx = np.flatnonzero(~np.isnan(singles[:, u]) & ~flipped)
        offer.extend(idx[np.argsort(-scores[idx], kind="stable")[:KEEP_PER_UNIT]])
    offer = singles[np.sort(np.asarray(offer, dtype=int))]
    beam_idx = np.flatnonzero(~flipped)
    beam = singles[beam_idx[np.argsort(-scores[beam_idx], kind="stable")[:BEAM]]]
    timed_out = False
    for _width in range(2, max_changes + 1):
        if len(_pick(problem, base, np.vstack(found), n)) >= n or not len(beam):
            break
        if time.perf_counter() - start > max_seconds:
            timed_out = True
            break
        wider = []
        for partial in beam:
            free = np.isnan(offer[:, ~np.isnan(partial)]).all(1)
            ext = offer[free]
            wider.append(np.where(np.isnan(ext), partial, ext))
        wider = _unique(np.vstack(wider)) if wider else np.empty((0, singles.shape[1]))
        if not len(wider):
            break
        scores, flipped = problem.evaluate(_frame(problem, base, wider))
        found.append(wider[flipped])
        rest = np.flatnonzero(~flipped)
        beam = wider[rest[np.argsort(-scores[rest], kind="stable")[:BEAM]]]
    found = np.vstack(found)
    if not len(found):
        return found, timed_out
    # cheapen the best few per unit set, then choose
    found = _pick(problem, base, found, max(4 * n, 12))
    found = _shrink(problem, base, _sparsify(problem, base, found))
    return _pick(problem, base, found, n), timed_out


def _is_numeric(dtype) -> bool:
    return pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)


def _columns(value, parameter: str, known) -> list:
    values = [value] if isinstance(value, str) else list(value)
    unknown = [c for c in values if c not in known]
    if unknown:
        raise UsageError(f"{parameter} names columns that are not in rows: {unknown}")
    return values


def _redundant_groups(data: pd.DataFrame, columns: list, declared) -> list[tuple]:
    """Declared groups merged with one-to-one mappings found in ``data`` (union-find)."""
    parent = {c: c for c in columns}

    def root(c):
        while parent[c] != c:
            c = parent[c]
        return c

    pairs = []
    for group in declared or ():
        group = _columns(group, "redundant", columns)
        if len(group) < 2:
            raise UsageError(f"redundant takes groups of two or more columns, got {group!r}")
        pairs.extend((group[0], other) for other in group[1:])
    counts = {c: data[c].nunique() for c in columns}
    for i, a in enumerate(columns):
        for b in columns[i + 1 :]:
            if counts[a] != counts[b] or not 2 <= counts[a] <= MAX_CATEGORIES:
                continue
            both = data[[a, b]].dropna()
            if both.groupby(a)[b].nunique().max() == 1 and both.groupby(b)[a].nunique().max() == 1:
                pairs.append((a, b))
    for a, b in pairs:
        parent[root(b)] = root(a)
    groups: dict = {}
    for c in columns:
        groups.setdefault(root(c), []).append(c)
    return [tuple(g) for g in groups.values() if len(g) > 1]


def _numeric_unit(column, values: pd.Series, lo, hi, direction) -> Unit:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype="float64")
    integer = pd.api.types.is_integer_dtype(values.dtype) or bool(np.all(v == np.round(v)))
    scale = float(np.median(np.abs(v - np.median(v)))) if len(v) else 0.0
    for fallback in (float(np.std(v)) if len(v) else 0.0, float(np.ptp(v)) if len(v) else 0.0):
        scale = scale or fallback
    inside = v[(v >= lo) & (v <= hi)]
    distinct = np.unique(inside)
    if len(distinct) <= 2 * GRID:
        grid = distinct
    else:
        levels = np.linspace(0, 1, GRID // 2 + 1)
        grid = np.concatenate([np.quantile(inside, levels), np.quantile(distinct, levels)])
    grid = np.concatenate([grid, [x for x in (lo, hi) if np.isfinite(x)]])
    if integer:
        grid = np.round(grid)
    grid = np.unique(grid[(grid >= lo) & (grid <= hi)])
    return Unit((column,), True, scale or 1.0, lo, hi, direction, integer, values=grid)


def _build_units(rows, data, immutable, ranges, monotone, redundant) -> tuple[list, dict]:
    """The units a person can act on, and each numeric column's allowed [lo, hi]."""
    columns = list(rows.columns)
    numeric = {c: _is_numeric(rows[c].dtype) for c in columns}
    bounds = {}
    for c in columns:
        if numeric[c]:
            observed = pd.to_numeric(data[c], errors="coerce")
            bounds[c] = ranges.get(c, (float(observed.min()), float(observed.max())))
    frozen = set(immutable)
    units = []
    grouped = set()
    for group in _redundant_groups(data, columns, redundant):
        grouped.update(group)
        if frozen.intersection(group):
            frozen.update(group)  # a change to one would contradict the other
            continue
        table = data[list(group)].dropna().value_counts().head(MAX_CATEGORIES).reset_index()
        table = table[list(group)].reset_index(drop=True)
        unit_monotone = {c: monotone[c] for c in group if c in monotone}
        unit_bounds = {c: bounds[c] for c in group if numeric[c]}
        units.append(Unit(tuple(group), False, table=table, monotone=unit_monotone))
        units[-1].bounds = unit_bounds
    for c in columns:
        if c in frozen or c in grouped:
            continue
        if numeric[c]:
            lo, hi = bounds[c]
            units.append(_numeric_unit(c, data[c], lo, hi, monotone.get(c)))
        else:
            top = data[c].dropna().value_counts().head(MAX_CATEGORIES).index
            units.append(Unit((c,), False, table=pd.DataFrame({c: top}).reset_index(drop=True)))
    return units, bounds
