"""Cell source analysis: what a cell reads, binds and changes in place."""

from __future__ import annotations

import pytest

from nbtrail.capture.names import analyze


@pytest.mark.parametrize(
    ("source", "reads", "binds", "mutates"),
    [
        ("df = pd.read_csv(path)", {"pd", "path"}, {"df"}, set()),
        ("df = df.dropna()", {"df"}, {"df"}, set()),
        ("df['x'] = df['y'] * 2", {"df"}, set(), {"df"}),
        ("df.loc[df.a > 1, 'b'] = 0", {"df"}, set(), {"df"}),
        ("df.dropna(inplace=True)", {"df"}, set(), {"df"}),
        ("arr.sort()", {"arr"}, set(), {"arr"}),
        ("del df['x']", {"df"}, set(), {"df"}),
        ("del df", set(), set(), set()),
        ("total += batch.sum()", {"total", "batch"}, {"total"}, set()),
        ("a, (b, *c) = f()", {"f"}, {"a", "b", "c"}, set()),
        ("for row in rows:\n    acc = row", {"rows", "row"}, {"row", "acc"}, set()),
        ("with open(p) as fh:\n    text = fh.read()", {"open", "p", "fh"}, {"fh", "text"}, set()),
        ("import numpy as np\nfrom os import path as p", set(), {"np", "p"}, set()),
        ("def f(x):\n    y = x + z\n    return y", {"x", "z", "y"}, {"f"}, set()),
        ("squares = [i * i for i in data]", {"i", "data"}, {"squares"}, set()),
        ("if (n := len(xs)) > 3:\n    big = True", {"len", "xs"}, {"n", "big"}, set()),
        ("model.fit(X, y)", {"model", "X", "y"}, set(), set()),
        ("x: int = 3", set(), {"x"}, set()),
    ],
)
def test_analyze(source, reads, binds, mutates):
    names = analyze(source)
    assert names.reads == reads
    assert names.binds == binds
    assert names.mutates == mutates


def test_unparseable_source_is_empty():
    names = analyze("df = (")
    assert not (names.reads or names.binds or names.mutates)
