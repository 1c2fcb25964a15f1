"""Settings: where the trail is, who acts, and what overrides what."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbtrail.config import current_actor, load_settings
from nbtrail.errors import UsageError
from nbtrail.store import init_trail, open_trail


def test_actor_precedence(monkeypatch):
    assert current_actor({"NBTRAIL_USER": "ana", "JUPYTERHUB_USER": "hub"}) == "ana"
    assert current_actor({"JUPYTERHUB_USER": "hub"}) == "hub"
    import getpass

    assert current_actor({}) == getpass.getuser()  # no variable set: the OS login


def test_home_found_upward_like_git(tmp_path):
    project = tmp_path / "project"
    (project / ".nbtrail").mkdir(parents=True)
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    settings = load_settings(deep, env={})
    assert settings.home == (project / ".nbtrail").resolve()
    assert settings.home_source == "found"


def test_environment_overrides_project_file(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[tool.nbtrail]\nhome = "trail-here"\nstore_url = "sqlite:///from-file.db"\n'
    )
    from_file = load_settings(tmp_path, env={})
    assert from_file.home == (tmp_path / "trail-here").resolve()
    assert from_file.store_url == "sqlite:///from-file.db"
    assert from_file.config_file == tmp_path / "pyproject.toml"
    env = {"NBTRAIL_HOME": str(tmp_path / "env-home"), "NBTRAIL_STORE_URL": "sqlite:///env.db"}
    from_env = load_settings(tmp_path, env=env)
    assert from_env.home == (tmp_path / "env-home").resolve()
    assert from_env.store_url == "sqlite:///env.db"


def test_nbtrail_toml_and_signing_key_from_environment_only(tmp_path):
    (tmp_path / "nbtrail.toml").write_text('blob_url = "blobs"\n')
    settings = load_settings(tmp_path, env={"NBTRAIL_SIGNING_KEY": "k"})
    assert settings.blob_url == str((tmp_path / "blobs").resolve())
    assert settings.signing_key == b"k"
    assert "signing_key" not in repr(settings)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[tool.nbtrail]\nsigning_key = "x"\n', "unknown nbtrail setting 'signing_key'"),
        ("[tool.nbtrail\n", "not valid TOML"),
        ("[tool]\nnbtrail = 3\n", "must be a table"),
    ],
)
def test_bad_project_settings_name_the_file_and_key(tmp_path, text, message):
    (tmp_path / "pyproject.toml").write_text(text)
    with pytest.raises(UsageError, match=message) as exc:
        load_settings(tmp_path, env={})
    assert "pyproject.toml" in str(exc.value)


def test_pyproject_without_our_table_is_ignored(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert load_settings(tmp_path, env={}).config_file is None


def test_init_here_even_below_another_trail(tmp_path, monkeypatch):
    outer = tmp_path / "outer"
    outer.mkdir()
    init_trail(outer).close()
    inner = outer / "inner"
    inner.mkdir()
    trail = init_trail(inner)
    assert trail.home == inner / ".nbtrail"
    trail.close()
    monkeypatch.chdir(inner / ".nbtrail" / "objects")
    with open_trail() as found:
        assert found.home == (inner / ".nbtrail").resolve()


def test_nbtrail_home_is_created_when_its_parent_exists(tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / "explicit"))
    with open_trail() as trail:
        assert Path(trail.home) == (tmp_path / "explicit").resolve()
        assert (tmp_path / "explicit" / "trail.db").exists()
    monkeypatch.setenv("NBTRAIL_HOME", str(tmp_path / "no" / "such" / "parent"))
    from nbtrail.errors import TrailNotFound

    with pytest.raises(TrailNotFound, match="does not exist"):
        open_trail()
