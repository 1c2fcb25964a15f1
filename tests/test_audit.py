"""Tamper evidence: each way of changing the trail behind nbtrail's back is caught by verify."""

from __future__ import annotations

import itertools
import json
import os

import pandas as pd
import pytest
import sqlalchemy as sa
from conftest import make_trail

from nbtrail.store._audit import GENESIS, event_hash, json_text, row_digest

KEY = b"correct horse battery staple"


def _populate(trail, tmp_path):
    path = tmp_path / "input.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    with trail.start_run("prepare", params={"seed": 1}) as run:
        source = run.use(path, snapshot=True)
        frame = pd.read_csv(path)
        run.produce(frame, name="frame", derived_from=[source], snapshot=True)
        run.log_metric("rows", len(frame))
        run.record_check("schema", "pass", summary="ok")
    return run


def _exec(trail, sql, **params):
    with trail.engine.begin() as conn:
        return conn.execute(sa.text(sql), params)


def _events(trail):
    with trail.engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(sa.text("SELECT * FROM events ORDER BY seq")).mappings()
        ]


def test_untouched_trail_verifies(trail, tmp_path):
    _populate(trail, tmp_path)
    report = trail.verify()
    assert report.ok, report.problems
    assert report.events == len(_events(trail)) > 5
    assert report.facts == report.events - 1  # one event per fact, plus the run's end
    assert report.blobs == 2


def test_every_fact_has_exactly_one_newest_event(trail, tmp_path):
    run = _populate(trail, tmp_path)
    events = _events(trail)
    subjects = {(e["subject_type"], e["subject_id"]) for e in events}
    with trail.engine.connect() as conn:
        for table in ("runs", "artifacts", "edges", "checks", "metrics"):
            for (ident,) in conn.execute(sa.text(f"SELECT id FROM {table}")):
                assert (table, ident) in subjects
    actions = [e["action"] for e in events if e["subject_id"] == run.id]
    assert actions == ["run.start", "run.end"]
    assert events[0]["prev_hash"] == GENESIS
    for before, after in itertools.pairwise(events):
        assert after["prev_hash"] == before["hash"]
        assert after["seq"] == before["seq"] + 1


def test_edited_fact_is_detected(trail, tmp_path):
    run = _populate(trail, tmp_path)
    _exec(trail, "UPDATE runs SET name = 'something else' WHERE id = :id", id=run.id)
    report = trail.verify()
    assert not report.ok
    assert report.first.subject == f"runs {run.id}"
    assert "changed after event" in report.first.message


def test_edited_metric_value_is_detected(trail, tmp_path):
    _populate(trail, tmp_path)
    _exec(trail, "UPDATE metrics SET value = 1000")
    report = trail.verify()
    assert any(p.subject.startswith("metrics ") and "changed" in p.message for p in report.problems)


def test_deleted_event_is_detected(trail, tmp_path):
    _populate(trail, tmp_path)
    _exec(trail, "DELETE FROM events WHERE seq = 3")
    report = trail.verify()
    assert not report.ok
    assert report.first.seq == 3
    assert "event 3 is missing" in str(report.first)


def test_deleted_last_event_is_detected_through_its_fact(trail, tmp_path):
    _populate(trail, tmp_path)
    last = _events(trail)[-1]
    _exec(trail, "DELETE FROM events WHERE seq = :s", s=last["seq"])
    report = trail.verify()
    assert not report.ok
    assert any(last["subject_id"] in p.subject for p in report.problems)


def test_swapped_events_are_detected(trail, tmp_path):
    _populate(trail, tmp_path)
    _exec(trail, "UPDATE events SET seq = -1 WHERE seq = 2")
    _exec(trail, "UPDATE events SET seq = 2 WHERE seq = 3")
    _exec(trail, "UPDATE events SET seq = 3 WHERE seq = -1")
    report = trail.verify()
    assert not report.ok
    assert report.first.seq == 2
    assert "does not follow" in report.first.message or "altered" in report.first.message


def test_edited_event_is_detected(trail, tmp_path):
    _populate(trail, tmp_path)
    _exec(trail, "UPDATE events SET actor = 'mallory' WHERE seq = 4")
    report = trail.verify()
    assert report.first.subject == "event 4"
    assert "altered" in report.first.message


def test_deleted_fact_is_detected(trail, tmp_path):
    _populate(trail, tmp_path)
    _exec(trail, "DELETE FROM metrics")
    report = trail.verify()
    assert any(p.subject.startswith("metrics ") and "deleted" in p.message for p in report.problems)


def test_fact_inserted_behind_the_back_is_detected(trail, tmp_path):
    run = _populate(trail, tmp_path)
    _exec(
        trail,
        "INSERT INTO metrics (id, run_id, key, value, step, created_at) "
        "VALUES ('forged', :run, 'accuracy', 0.99, NULL, CURRENT_TIMESTAMP)",
        run=run.id,
    )
    report = trail.verify()
    assert [str(p) for p in report.problems] == [
        "metrics forged: is not in the audit log (added behind nbtrail's back)"
    ]


def test_flipped_byte_in_a_blob_is_detected(trail, tmp_path):
    _populate(trail, tmp_path)
    digest = sorted(trail.blobs.digests())[0]
    path = trail.blobs.path(digest)
    os.chmod(path, 0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    report = trail.verify()
    assert [p.subject for p in report.problems] == [f"blob {digest}"]
    assert "do not match its fingerprint" in report.first.message


def test_missing_blob_is_detected(trail, tmp_path):
    _populate(trail, tmp_path)
    digest = sorted(trail.blobs.digests())[0]
    trail.blobs.path(digest).unlink()
    report = trail.verify()
    assert [str(p) for p in report.problems] == [
        f"blob {digest}: is referred to by a fact but missing"
    ]


def _forge_chain(trail, run_id, new_name, *, keep_signatures: bool) -> None:
    """What an attacker with database access but no key does: edit the row, then rewrite
    the run's history to match (its recorded insert and every digest) and rebuild the chain."""
    from nbtrail.store import _schema

    _exec(trail, "UPDATE runs SET name = :n WHERE id = :id", n=new_name, id=run_id)
    with trail.engine.begin() as conn:
        events = conn.execute(sa.select(_schema.events).order_by(_schema.events.c.seq)).mappings()
        prev, state = GENESIS, None
        for event in [dict(e) for e in events]:
            if event["subject_id"] == run_id:
                change = json.loads(event["change"])
                if state is None:
                    change["name"] = new_name
                    event["change"] = json_text(change)
                state = {**(state or {}), **change}
                event["digest"] = row_digest(state, "runs")
            event["prev_hash"] = prev
            event["hash"] = event_hash(event)
            values = {
                "digest": event["digest"],
                "change": event["change"],
                "prev_hash": prev,
                "hash": event["hash"],
            }
            if not keep_signatures:
                values["signature"] = None
            conn.execute(
                _schema.events.update().where(_schema.events.c.seq == event["seq"]).values(**values)
            )
            prev = event["hash"]


@pytest.mark.parametrize("keep_signatures", [True, False])
def test_chain_rewritten_without_the_key_is_detected(store_url, tmp_path, keep_signatures):
    signed = make_trail(store_url, tmp_path / "objects", key=KEY)
    run = _populate(signed, tmp_path)
    assert signed.verify().ok
    assert signed.verify().signed == signed.verify().events
    start_seq = next(
        e["seq"]
        for e in _events(signed)
        if e["subject_id"] == run.id and e["action"] == "run.start"
    )
    _forge_chain(signed, run.id, "innocent", keep_signatures=keep_signatures)
    report = signed.verify()
    assert not report.ok
    # Events before the edit are unchanged; the first forged one is the run's start.
    assert report.first.seq == (start_seq if keep_signatures else 1)
    expected = "does not match the signing key" if keep_signatures else "is not signed"
    assert expected in report.first.message
    signed.close()
    unsigned_view = make_trail(store_url, tmp_path / "objects", readonly=True)
    report = unsigned_view.verify()
    unsigned_view.close()
    if keep_signatures:
        # A forgery consistent in every hash needs the key to be told apart: what it is for.
        assert report.ok
    else:
        # The trail recorded that it was created signed: an unsigned rebuild fails without key.
        assert not report.ok
        assert report.first.seq == 1
        assert "the trail was created signed" in report.first.message


def test_signatures_are_noted_when_no_key_is_given(store_url, tmp_path):
    signed = make_trail(store_url, tmp_path / "objects", key=KEY)
    _populate(signed, tmp_path)
    signed.close()
    viewer = make_trail(store_url, tmp_path / "objects", readonly=True)
    report = viewer.verify()
    assert report.ok and not report.signatures_checked
    assert any("NBTRAIL_SIGNING_KEY" in note for note in report.notes)
    viewer.close()
    wrong = make_trail(store_url, tmp_path / "objects", key=b"wrong key", readonly=True)
    assert "does not match the signing key" in wrong.verify().first.message
    wrong.close()


def test_unsigned_trail_verified_with_a_key_reports_unsigned_events(store_url, tmp_path):
    plain = make_trail(store_url, tmp_path / "objects")
    _populate(plain, tmp_path)
    plain.close()
    keyed = make_trail(store_url, tmp_path / "objects", key=KEY, readonly=True)
    report = keyed.verify()
    assert not report.ok and "is not signed" in report.first.message
    keyed.close()


def test_cut_off_newest_events_are_caught_only_against_a_kept_head(trail, tmp_path):
    _populate(trail, tmp_path)
    kept = trail.verify().head  # what someone wrote down elsewhere
    before = len(_events(trail))
    with trail.start_run("later") as later:
        later.log_metric("x", 1.0)
    newest = trail.verify().head
    # Cut off everything written since `kept`, facts and events alike.
    _exec(trail, "DELETE FROM metrics WHERE run_id = :r", r=later.id)
    _exec(trail, "DELETE FROM runs WHERE id = :r", r=later.id)
    _exec(trail, "DELETE FROM events WHERE seq > :s", s=before)
    assert trail.verify().ok  # no chain can see this on its own
    report = trail.verify(expect_head=newest[:16])
    assert not report.ok
    assert report.first.subject == "chain" and "not in the chain" in report.first.message
    kept_report = trail.verify(expect_head=kept)
    assert kept_report.ok
    assert any(f"is event {before}; 0 events written since" in n for n in kept_report.notes)


def test_expect_head_that_is_too_short_or_not_hex_is_refused(trail):
    from nbtrail.errors import UsageError

    for bad in ("abc", "zz" * 10, ""):
        with pytest.raises(UsageError, match="at least 16 hex digits"):
            trail.verify(expect_head=bad)


# -- every column of every fact --------------------------------------------------------------

from nbtrail.store import _schema as _fact_schema  # noqa: E402

COLUMNS = [
    (table.name, column.name)
    for table in _fact_schema.FACT_TABLES.values()
    for column in table.columns
]


def _populate_every_column(trail, tmp_path):
    """A trail whose rows fill every column of every fact table (the later ones too)."""
    path = tmp_path / "input.csv"
    path.write_text("a,b\n1,2\n3,4\n")
    with trail.start_run(
        "prepare", params={"seed": 1}, notebook=tmp_path / "nb.ipynb", parent=None
    ) as run:
        source = run.use(path, snapshot=True)
        frame = run.produce(pd.DataFrame({"a": [1, 3]}), name="frame", derived_from={"raw": source})
        run.log_metric("rows", 2, step=1)
        run.record_check(
            "schema",
            "warn",
            subjects={"data": frame},
            summary="one finding",
            metrics={"rows": 2},
            thresholds={"rows": 1},
            details=pd.DataFrame({"column": ["a"]}),
            kind="schema",
            version="2",
            params={"strict": True},
        )
    from nbtrail.store import NewBudget, set_budget, spend

    first = set_budget(trail, NewBudget(source.id, "input.csv", 1.0, 1e-6, 1e-7))
    set_budget(trail, NewBudget(source.id, "input.csv", 2.0, 1e-6), replace=True)
    assert first.id  # the replacement points at it (budgets.replaces is filled)
    spend(trail, [source.id], 0.5, 1e-8, mechanism="fit", run_id=run.id, note="conservative")
    from nbtrail.store import NewRegistryFact, write_registry

    fact = NewRegistryFact(
        "income", "alias", 1, "champion", source.id, "why", {"policy": "satisfied"}
    )
    write_registry(trail, "income", lambda rows: [fact])
    return run


def _changed(value, column):
    import datetime as dt

    if value is None:
        python_type = column.type.python_type if not isinstance(column.type, sa.JSON) else dict
        if python_type is dt.datetime:
            return dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
        return {"tampered": True} if python_type is dict else python_type(7)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, dt.datetime):
        return value + dt.timedelta(seconds=1)
    if isinstance(value, dict | list):
        return {"tampered": True}
    length = getattr(column.type, "length", None)
    if length is not None and len(value) >= length:  # a full-width id or digest: change a digit
        return value[:-1] + ("0" if value[-1] != "0" else "1")
    return value + "x"


@pytest.mark.parametrize(("table", "column"), COLUMNS, ids=[f"{t}.{c}" for t, c in COLUMNS])
def test_an_edit_to_any_column_of_any_fact_is_detected(trail, tmp_path, table, column):
    _populate_every_column(trail, tmp_path)
    facts = _fact_schema.FACT_TABLES[table]
    col = facts.c[column]
    with trail.engine.begin() as conn:
        rows = conn.execute(sa.select(facts)).mappings().all()
        victim = next((r for r in rows if r[column] is not None), rows[0])
        new = _changed(victim[column], col)
        conn.execute(facts.update().where(facts.c.id == victim["id"]).values({column: new}))
    assert trail.verify().ok is False, f"{table}.{column}: {victim[column]!r} -> {new!r} unseen"
