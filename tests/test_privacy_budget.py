"""Privacy budgets on the trail: set by the owner, spent atomically, audited, never exceeded."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import make_trail

from nbtrail.config import Settings
from nbtrail.errors import BudgetExceeded, UsageError
from nbtrail.store import (
    LocalBlobStore,
    NewBudget,
    Trail,
    budget_status,
    compose,
    set_budget,
    spend,
)

DATA = "d" * 32
OTHER = "e" * 32
NBTRAIL = Path(sys.executable).parent / "nbtrail"


def as_actor(store_url: str, blobs: Path, actor: str) -> Trail:
    return Trail(store_url, blobs=LocalBlobStore(blobs), home=None, settings=Settings(actor=actor))


def test_spends_add_up_until_the_budget_and_a_refusal_spends_nothing(trail):
    set_budget(trail, NewBudget(DATA, "adult.csv", 1.0, 1e-6))
    (after,) = spend(trail, [DATA], 0.4, mechanism="laplace", run_id=None)
    assert after.spent_epsilon == pytest.approx(0.4)
    spend(trail, [DATA], 0.6, 1e-7, mechanism="gaussian")
    with pytest.raises(BudgetExceeded) as refused:
        spend(trail, [DATA], 0.01, mechanism="laplace")
    message = str(refused.value)
    assert "adult.csv" in message and "asked epsilon 0.01" in message
    assert "0 of 1 remains" in message and "spent by tester 1" in message
    (status,) = budget_status(trail)
    assert len(status.spends) == 2 and status.spent_epsilon == pytest.approx(1.0)
    assert status.spent_delta == pytest.approx(1e-7)
    assert trail.verify().ok


def test_a_spend_over_one_of_two_budgets_spends_from_neither(trail):
    set_budget(trail, NewBudget(DATA, "a.csv", 1.0))
    set_budget(trail, NewBudget(OTHER, "b.csv", 5.0))
    with pytest.raises(BudgetExceeded, match="a.csv"):
        spend(trail, [OTHER, DATA], 2.0, mechanism="fit")
    assert all(not b.spends for b in budget_status(trail))
    spent = spend(trail, [DATA, OTHER, "f" * 32], 1.0, mechanism="fit")  # f: no budget
    assert sorted(b.name for b in spent) == ["a.csv", "b.csv"]


def test_delta_is_budgeted_too(trail):
    set_budget(trail, NewBudget(DATA, "a.csv", 10.0, 1e-6))
    spend(trail, [DATA], 1.0, 6e-7, mechanism="gaussian")
    with pytest.raises(BudgetExceeded, match="delta 6e-07"):
        spend(trail, [DATA], 1.0, 6e-7, mechanism="gaussian")


@pytest.mark.parametrize(
    ("epsilon", "delta", "slack", "message"),
    [
        (0, 0.0, 0.0, "epsilon must be a finite number above 0"),
        (-1, 0.0, 0.0, "epsilon must be a finite number above 0"),
        (math.nan, 0.0, 0.0, "epsilon must be a finite number above 0"),
        (math.inf, 0.0, 0.0, "epsilon must be a finite number above 0"),
        ("3", 0.0, 0.0, "epsilon must be a positive number"),
        (1.0, 1.0, 0.0, r"delta must be in \[0, 1\)"),
        (1.0, -0.1, 0.0, r"delta must be in \[0, 1\)"),
        (1.0, 1e-6, 1e-5, r"slack \(1e-05\) cannot exceed delta"),
    ],
)
def test_bad_budgets_are_refused_by_name(epsilon, delta, slack, message):
    with pytest.raises(UsageError, match=message):
        NewBudget(DATA, "a.csv", epsilon, delta, slack)


def test_bad_spends_are_refused_before_anything_is_read(trail):
    set_budget(trail, NewBudget(DATA, "a.csv", 1.0))
    for bad in (0, -0.5, math.nan, math.inf):
        with pytest.raises(UsageError, match="epsilon"):
            spend(trail, [DATA], bad, mechanism="fit")
    with pytest.raises(UsageError, match="delta"):
        spend(trail, [DATA], 0.1, 1.5, mechanism="fit")
    assert not budget_status(trail)[0].spends


def test_a_budget_is_set_once_and_replaced_only_by_its_owner(trail, store_url, tmp_path):
    set_budget(trail, NewBudget(DATA, "a.csv", 1.0))
    spend(trail, [DATA], 0.5, mechanism="fit")
    with pytest.raises(UsageError, match="already has a budget.*--replace"):
        set_budget(trail, NewBudget(DATA, "a.csv", 2.0))
    intruder = as_actor(store_url, tmp_path / "objects", "mallory")
    try:
        with pytest.raises(UsageError, match=r"only the budget's owner \(tester\)"):
            set_budget(intruder, NewBudget(DATA, "a.csv", 100.0), replace=True)
    finally:
        intruder.close()
    replaced = set_budget(trail, NewBudget(DATA, "a.csv", 2.0), replace=True)
    # the spends made under the old budget still count against the new one
    assert replaced.epsilon == 2.0 and replaced.spent_epsilon == pytest.approx(0.5)
    assert trail.verify().ok


def test_composition_with_slack_is_diffprivlibs_advanced_composition():
    accountant = pytest.importorskip("diffprivlib.accountant")
    spends = [(0.1, 0.0)] * 100
    eps, delta = compose(spends, 1e-6)
    expected = accountant.BudgetAccountant(slack=1e-6, spent_budget=spends).total()
    assert (eps, delta) == (pytest.approx(expected[0]), pytest.approx(expected[1]))
    assert eps == pytest.approx(5.76, abs=0.01) and delta == pytest.approx(1e-6)
    assert compose(spends, 0.0) == (pytest.approx(10.0), 0.0)


def test_slack_lets_many_small_spends_fit_a_budget_their_sum_exceeds(trail):
    pytest.importorskip("diffprivlib")
    set_budget(trail, NewBudget(DATA, "a.csv", 6.0, 2e-6, 1e-6))
    for _ in range(100):
        spend(trail, [DATA], 0.1, mechanism="count")
    (status,) = budget_status(trail)
    assert len(status.spends) == 100 and status.spent_epsilon < 6.0


def test_an_edited_or_deleted_spend_fails_verification(trail):
    set_budget(trail, NewBudget(DATA, "a.csv", 1.0))
    spend(trail, [DATA], 0.9, mechanism="fit")
    spend(trail, [DATA], 0.1, mechanism="fit")
    with trail.engine.begin() as conn:
        conn.execute(sa.text("UPDATE spends SET epsilon = 0.0001 WHERE epsilon > 0.5"))
    report = trail.verify()
    assert not report.ok
    assert any(str(p).startswith("spends ") and "was changed" in str(p) for p in report.problems)
    with trail.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM spends"))
    assert any("was deleted" in str(p) for p in trail.verify().problems)


RACER = """
import sys
from pathlib import Path
from nbtrail.config import Settings
from nbtrail.errors import BudgetExceeded
from nbtrail.store import LocalBlobStore, Trail, spend
trail = Trail(sys.argv[1], blobs=LocalBlobStore(Path(sys.argv[2])), home=None,
              settings=Settings(actor=sys.argv[3]))
try:
    spend(trail, [sys.argv[4]], 1.0, mechanism="race")
    print("spent")
except BudgetExceeded:
    print("refused")
"""


def test_processes_racing_for_the_last_epsilon_spend_exactly_the_budget(trail, store_url, tmp_path):
    set_budget(trail, NewBudget(DATA, "a.csv", 3.0))
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, store_url, str(tmp_path / "objects"), f"p{i}", DATA],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    outcomes = []
    for racer in racers:
        out, err = racer.communicate(timeout=120)
        assert racer.returncode == 0, err
        outcomes.append(out.strip())
    assert sorted(outcomes) == ["refused"] * 5 + ["spent"] * 3
    (status,) = budget_status(trail)
    assert status.spent_epsilon == pytest.approx(3.0) and len(status.spends) == 3
    assert trail.verify().ok


def cli(*args, cwd):
    return subprocess.run(
        [str(NBTRAIL), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_budget_command_sets_shows_and_refuses_bad_input_with_exit_2(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n1,2\n3,4\n")
    assert cli("init", ".", cwd=tmp_path).returncode == 0
    done = cli("budget", "set", "data.csv", "--epsilon", "3", "--delta", "1e-6", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "budget of data.csv: epsilon 3, delta 1e-06" in done.stdout
    for args, message in (
        (("--epsilon", "3"), "already has a budget"),
        (("--epsilon", "nan", "--replace"), "epsilon must be a finite number above 0"),
        (("--epsilon", "0", "--replace"), "epsilon must be a finite number above 0"),
        (("--epsilon", "1", "--delta", "1", "--replace"), "delta must be in"),
    ):
        refused = cli("budget", "set", "data.csv", *args, cwd=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr, refused.stderr
    missing = cli("budget", "set", "nope.csv", "--epsilon", "1", cwd=tmp_path)
    assert missing.returncode == 2 and "no such file" in missing.stderr
    folder = cli("budget", "set", ".", "--epsilon", "1", cwd=tmp_path)
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    shown = cli("budget", "show", cwd=tmp_path)
    assert shown.returncode == 0 and "data.csv" in shown.stdout and "remaining" in shown.stdout
    (budget,) = json.loads(cli("budget", "show", "data.csv", "--json", cwd=tmp_path).stdout)
    assert budget["epsilon"] == 3.0 and budget["remaining_epsilon"] == 3.0
    assert budget["spends"] == [] and budget["owner"]
    # the file changed: other bytes are another dataset, with no budget
    (tmp_path / "data.csv").write_text("a,b\n9,9\n")
    assert json.loads(cli("budget", "show", "data.csv", "--json", cwd=tmp_path).stdout) == []
    assert cli("verify", cwd=tmp_path).returncode == 0


def test_a_ledger_on_a_fresh_trail_starts_empty(store_url, tmp_path):
    t = make_trail(store_url, tmp_path / "objects")
    try:
        assert budget_status(t) == []
        assert spend(t, [DATA], 1.0, mechanism="fit") == []  # no budget: nothing to spend
    finally:
        t.close()
