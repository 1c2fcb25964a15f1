"""Secrets and raw values stay out of the audit trail.

Credentials are masked wherever a URL or connection string is recorded and redacted from the
code capture stores; checks copy no values of declared identifiers (or of any column, with
``examples = false``) into their findings.
"""

from __future__ import annotations

import hashlib
import io
import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_trail

from nbtrail import checks
from nbtrail._secrets import is_secret_name, mask_url, redact_code
from nbtrail.config import load_settings
from nbtrail.errors import UsageError
from nbtrail.fingerprints import digest_bytes

# -- masking URLs and connection strings ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("postgresql://ana:s3cret@db/prod", "postgresql://ana:***@db/prod"),
        (
            "postgresql+psycopg://ana:s3cret@db:5432/prod",
            "postgresql+psycopg://ana:***@db:5432/prod",
        ),
        ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
        ("postgresql://ana:p@ss@db/prod", "postgresql://ana:***@db/prod"),  # "@" not encoded
        ("postgresql://ana:a/b@db/prod", "postgresql://ana:***@db/prod"),  # "/" not encoded
        ("postgresql://ana@db/prod?password=s3cret", "postgresql://ana@db/prod?password=***"),
        (
            "postgresql://db/prod?sslmode=require&PassWord=s3cret&application_name=x",
            "postgresql://db/prod?sslmode=require&PassWord=***&application_name=x",
        ),
        (
            "https://api.example/v1?api_key=s3cret&token=s3cret&access_key=s3cret&page=2",
            "https://api.example/v1?api_key=***&token=***&access_key=***&page=2",
        ),
        (
            "postgresql://db/x?sslpassword=s3cret&secret=s3cret&pwd=s3cret&passwd=s3cret",
            "postgresql://db/x?sslpassword=***&secret=***&pwd=***&passwd=***",
        ),
        (
            "host=db dbname=prod user=ana password=s3cret",
            "host=db dbname=prod user=ana password=***",
        ),
        ("host=db password = 's3 cret' port=5432", "host=db password = '***' port=5432"),
        ("password='it\\'s s3cret' host=db", "password='***' host=db"),
        (
            "DRIVER={ODBC Driver 18};SERVER=db;UID=ana;PWD=s3 cret;Encrypt=yes",
            "DRIVER={ODBC Driver 18};SERVER=db;UID=ana;PWD=***;Encrypt=yes",
        ),
        ("Server=db;Pwd={s3;cr}}et};Database=x", "Server=db;Pwd={***};Database=x"),
        (
            "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC%7D%3BSERVER%3Ddb%3BPWD%3Ds3cret",
            "mssql+pyodbc:///?odbc_connect=DRIVER%3D%7BODBC%7D%3BSERVER%3Ddb%3BPWD%3D***",
        ),
        ("psql --password=s3cret -h db", "psql --password=*** -h db"),
    ],
)
def test_every_credential_form_is_masked(text, masked):
    assert mask_url(text) == masked
    assert mask_url(masked) == masked  # masking twice changes nothing


@pytest.mark.parametrize(
    "text",
    [
        "sqlite:///data/db.sqlite",
        "https://example.com:8080/path/file.csv?page=2&sort=name",
        "postgresql://ana@db/prod?sslmode=require",
        "host=db dbname=prod user=ana",
        "DRIVER={ODBC Driver 18};SERVER=db;Trusted_Connection=yes",
        "s3://bucket/key.parquet",
    ],
)
def test_text_without_credentials_is_unchanged(text):
    assert mask_url(text) == text


def test_secret_names():
    secret = "password PGPASSWORD db_pwd api_key apiKey client_secret GITHUB_TOKEN accessToken"
    for name in (*secret.split(), "AWS_SECRET_ACCESS_KEY", "sslpassword"):
        assert is_secret_name(name), name
    for name in ("tokenizer", "max_tokens", "sort_key", "key", "name", "user", "passenger"):
        assert not is_secret_name(name), name
    assert not is_secret_name("PWD", any_key=True)  # the shell's working directory
    assert is_secret_name("SOME_KEY", any_key=True) and not is_secret_name("SOME_KEY")


def test_connection_urls_of_engines_and_strings_keep_no_credential():
    import sqlalchemy as sa

    from nbtrail.capture._sql import connection_url, query_fingerprint

    engine = sa.create_engine("postgresql+psycopg://ana@db.invalid/prod?password=s3cret")
    try:
        assert connection_url(engine) == "postgresql+psycopg://ana@db.invalid/prod?password=***"
    finally:
        engine.dispose()
    assert connection_url("host=db password=s3cret") == "host=db password=***"
    assert connection_url("SERVER=db;PWD=s3cret;") == "SERVER=db;PWD=***;"
    fp = query_fingerprint("SELECT 1", "postgresql://ana:s3cret@db/x?token=s3cret", "query")
    assert "s3cret" not in repr(fp.meta) and fp.meta["url"] == "postgresql://ana:***@db/x?token=***"
    # The same query on the same database is the same artifact, whatever the password.
    other = query_fingerprint("SELECT 1", "postgresql://ana:rotated@db/x?token=new", "query")
    assert other.digest == fp.digest


# -- redacting code ---------------------------------------------------------------------------

CODE = textwrap.dedent(
    """\
    engine = create_engine("postgresql://ana:hunter2@db/x")
    con = psycopg.connect(host="db", password="hunter2")
    password = 'hunter2'
    db_password: str = "hunter2"
    api_key="hunter2"
    settings = {"token": "hunter2", 'name': 'ana', "Authorization": "Bearer hunter2"}
    os.environ["PGPASSWORD"] = "hunter2"
    dsn = "host=db user=ana password=hunter2"
    odbc = "SERVER=db;UID=ana;PWD=hunter2;"
    url = f"https://api.example/v1?api_key=hunter2&q={query}"
    # the old one was postgresql://ana:hunter2@db/x
    tokenizer = "bert-base"
    sort_key = "date"
    !echo don't stop
    """
)


def test_redact_code_masks_every_inline_credential():
    redacted, count = redact_code(CODE)
    assert "hunter2" not in redacted
    assert count == 12
    # What is not a credential is left alone, magics and odd quotes included.
    kept = ("'name': 'ana'", 'tokenizer = "bert-base"', 'sort_key = "date"', "!echo don't stop")
    for text in (*kept, "&q={query}", 'connect(host="db", password="***")'):
        assert text in redacted, text
    assert redact_code(redacted) == (redacted, 0)  # stable: the same code, the same artifact
    assert redact_code("x = 1\nprint('no secrets')\n") == ("x = 1\nprint('no secrets')\n", 0)


def test_unterminated_strings_and_empty_code_do_not_break_redaction():
    assert redact_code("") == ("", 0)
    assert redact_code('password = "hunter2')[0] == 'password = "***'
    assert redact_code("s = '''\npassword=hunter2\n")[0] == "s = '''\npassword=***\n"


# -- end to end: a real kernel ----------------------------------------------------------------


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_no_secret_reaches_the_trail_of_a_notebook(tmp_path, monkeypatch):
    from test_capture import execute, notebook

    from nbtrail.store import open_trail

    home = tmp_path / "trail-home"
    monkeypatch.setenv("NBTRAIL_HOME", str(home))
    monkeypatch.setenv("PGPASSWORD", "envSecret42")  # the kernel inherits it
    work = tmp_path / "nb"
    work.mkdir()
    import sqlite3

    with sqlite3.connect(work / "db.sqlite") as db:
        db.execute("CREATE TABLE t (a INTEGER)")
        db.executemany("INSERT INTO t VALUES (?)", [(1,), (2,), (3,)])
    execute(
        notebook(
            "%load_ext nbtrail",
            "import sqlalchemy as sa, pandas as pd\n"
            'engine = sa.create_engine("postgresql+psycopg://ana:inlineSecret1@db.invalid/x")\n'
            "password = 'assignedSecret2'",
            'local = sa.create_engine("sqlite:///file:db.sqlite?uri=true&password=querySecret3")\n'
            'rows = pd.read_sql("SELECT a FROM t WHERE a > 1", local)',
            "rows.to_csv('rows.csv')",
        ),
        work,
    )
    stored = _all_bytes(home)
    for secret in (b"inlineSecret1", b"assignedSecret2", b"querySecret3", b"envSecret42"):
        assert secret not in stored, secret
    with open_trail(work) as trail:
        codes = [a for a in trail.artifacts() if a.kind == "code"]
        assert sorted(a.meta.get("redacted", 0) for a in codes) == [0, 1, 2]
        source = (
            "import sqlalchemy as sa, pandas as pd\n"
            'engine = sa.create_engine("postgresql+psycopg://ana:inlineSecret1@db.invalid/x")\n'
            "password = 'assignedSecret2'"
        )
        original = "sha256:" + hashlib.sha256(source.encode()).hexdigest()
        (code,) = [a for a in codes if a.meta.get("original_digest") == original]
        assert code.meta["redacted"] == 2
        # The artifact is what is stored: its id is the digest of the redacted code.
        blob = trail.blobs.get_bytes(code.id)
        assert code.id == digest_bytes(blob) and blob == redact_code(source)[0].encode()
        (query,) = [a for a in trail.artifacts() if a.kind == "query"]
        assert query.meta["url"] == "sqlite:///file%3Adb.sqlite?password=***&uri=true"
        assert trail.verify().ok


# -- raw values in findings -------------------------------------------------------------------


def _pyproject(folder: Path, privacy: str) -> None:
    (folder / "pyproject.toml").write_text(f"[tool.nbtrail.privacy]\n{privacy}\n")


@pytest.fixture
def people() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    n = 60
    names = [f"Person{i:03d}x" for i in range(n)]
    return pd.DataFrame(
        {
            "customer_id": [f"CUST{i:05d}Z" for i in range(n)],
            "name": names,
            "city": pd.Series(rng.choice(["Northtown", "Southvale"], n), dtype="str"),
            "age": rng.integers(18, 90, n),
        }
    )


def _listed(value) -> list:
    """A list cell of a stored details table (kept as JSON text)."""
    return json.loads(value) if isinstance(value, str) else list(value)


def _trail_bytes(tmp_path: Path, result) -> tuple[bytes, pd.DataFrame]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    trail = make_trail(f"sqlite:///{tmp_path / 'trail.db'}", tmp_path / "objects")
    try:
        with trail.start_run("audit") as run:
            result.record(run)
        (record,) = trail.checks([run.id])
        details = pd.read_parquet(io.BytesIO(trail.blobs.get_bytes(record.details)))
    finally:
        trail.close()
    return _all_bytes(tmp_path), details


def test_declared_identifiers_leave_no_value_in_findings(tmp_path, people):
    schema = checks.infer_schema(people, max_categories=100)
    batch = people.copy()
    batch.loc[5, "customer_id"] = batch.loc[3, "customer_id"]  # a duplicate identifier
    batch.loc[7, "name"] = "Intruder999x"  # a category never seen
    # Without declarations, the values are in the findings (the control).
    shown = checks.validate(batch, schema)
    stored, _ = _trail_bytes(tmp_path / "shown", shown)
    assert b"CUST00003Z" in stored and b"Intruder999x" in stored

    _pyproject(tmp_path, 'identifiers = ["name", "customer_id"]')
    schema = checks.infer_schema(people, max_categories=100)
    assert "Person" not in schema.to_yaml() and "Person" not in repr(schema)
    assert "Northtown" in schema.to_yaml()  # other columns keep their categories
    result = checks.validate(batch, schema)
    assert result.status == "fail"
    stored, details = _trail_bytes(tmp_path / "hidden", result)
    for value in (b"CUST0", b"Person", b"Intruder999x"):
        assert value not in stored, value
    failing = details.set_index("column")
    assert set(failing.index) == {"customer_id", "name"}
    assert all(_listed(examples) == [] for examples in failing["examples"])
    assert failing.loc["name", "rule"].startswith("isin(<60 values, sha256:")
    assert _listed(failing.loc["customer_id", "rows"]) == [3, 5]  # positions, not values


def test_a_schema_with_category_lists_shows_none_for_an_identifier(tmp_path, people):
    schema = checks.infer_schema(people, max_categories=100)  # lists the names
    _pyproject(tmp_path, 'identifiers = ["name"]')
    batch = people.assign(name=["Intruder999x"] * len(people))
    result = checks.validate(batch, schema)
    rules = sorted(result.details["rule"])  # the unseen name, and the name no longer unique
    assert rules[0] == "field_uniqueness" and rules[1].startswith("isin(<60 values, sha256:")
    assert "Person" not in repr(rules) and "Intruder" not in result.details.to_csv()
    assert "Person" not in repr(result.params)  # the schema's repr, recorded with the result


def test_the_digest_rule_still_detects_a_new_category(tmp_path, people):
    _pyproject(tmp_path, 'identifiers = ["name"]')
    schema = checks.infer_schema(people, max_categories=100)
    assert checks.validate(people, schema).status == "pass"
    reloaded = checks.Schema.from_yaml(schema.to_yaml())
    assert checks.validate(people.iloc[:10], reloaded).status == "pass"
    changed = people.assign(name=people["name"].replace("Person001x", "Person001y"))
    result = checks.validate(changed, reloaded)
    assert result.status == "fail" and result.metrics["failures"] == 1


def test_examples_false_removes_examples_for_every_column(tmp_path, people):
    schema = checks.infer_schema(people, max_categories=100)
    batch = people.assign(city=["Atlantis"] * len(people), age=-1)
    assert any(len(e) for e in checks.validate(batch, schema).details["examples"])
    _pyproject(tmp_path, "examples = false")
    result = checks.validate(batch, schema)
    stored, details = _trail_bytes(tmp_path / "off", result)
    assert b"Atlantis" not in stored and b"Northtown" not in stored
    assert len(details) == 2 and all(_listed(e) == [] for e in details["examples"])
    # The keyword overrides the setting, for one call.
    assert any(len(e) for e in checks.validate(batch, schema, examples=True).details["examples"])


def test_label_issues_names_classes_by_position_when_examples_are_off(tmp_path):
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"x": rng.normal(size=200)})
    y = pd.Series(np.where(X["x"] > 0, "Approved", "Denied"), name="decision")
    y[:10] = np.where(y[:10] == "Approved", "Denied", "Approved")
    result = checks.label_issues(X, y, examples=False)
    text = repr(result.metrics) + result.details.to_csv()
    assert "Approved" not in text and "class 0" in text


@pytest.mark.parametrize(
    ("privacy", "message"),
    [
        ('identifiers = "name"', "privacy.identifiers must be a list of column names"),
        ("identifiers = [1, 2]", "privacy.identifiers must be a list of column names"),
        ('examples = "no"', "privacy.examples must be true or false"),
        ("hide = true", "unknown privacy setting 'hide'"),
    ],
)
def test_a_bad_privacy_setting_names_its_key(tmp_path, people, privacy, message):
    _pyproject(tmp_path, privacy)
    with pytest.raises(UsageError, match=message):
        load_settings(tmp_path)
    with pytest.raises(UsageError, match=message):
        checks.infer_schema(people)


def test_privacy_settings_are_read(tmp_path):
    _pyproject(tmp_path, 'identifiers = ["name", "customer_id"]\nexamples = false')
    privacy = load_settings(tmp_path).privacy
    assert privacy.identifiers == ("name", "customer_id") and privacy.examples is False
    assert load_settings(tmp_path.parent).privacy == type(privacy)()  # no settings: defaults


def test_rules_of_hidden_columns_show_no_values():
    from nbtrail.checks._examples import hide_rule_values

    assert hide_rule_values("isin(['ann', 'bob'])").startswith("isin(<2 values, sha256:")
    assert hide_rule_values("isin(['bob', 'ann'])") == hide_rule_values("isin(['ann', 'bob'])")
    assert hide_rule_values("equal_to('ann')") == "equal_to(<values hidden>)"
    assert hide_rule_values("in_range(13, 95)") == "in_range(13, 95)"


def test_unverifiable_reads_keep_no_credential():
    from nbtrail.capture._health import Health

    health = Health()
    health.read_unverifiable("url", "https://api.example/data.csv?token=s3cret")
    health.read_unverifiable("subprocess", "subprocess.Popen: psql postgresql://ana:s3cret@db/x")
    assert "s3cret" not in repr(health.to_dict())
