"""The frontend's committed artefacts are what their sources make.

Two things are committed beside the TypeScript so that installing nbtrail needs no Node.js: the
API's types in ``extension/src/api.ts`` (generated from ``nbtrail.server.shapes`` by
``nbtrail.server.typescript``) and the built bundle in ``kernel_helpers/nbtrail/labextension/``.
Each test here makes them again and compares: the types in memory, the bundle by a real build
(``jlpm build:prod``) of a copy of ``extension/`` in a temporary folder, compared with the
committed bundle file by file, byte for byte. That works because the build is reproducible: the
same sources give the same bytes in any folder (``extension/webpack.config.js`` says how).

The build needs Node.js: without it these tests are skipped loudly, unless
``NBTRAIL_REQUIRE_NODE=1`` (set by ``.ci/run``), which makes that a failure. The build reuses
``extension/node_modules`` (hard links) when it is there, else installs into the copy with
``jlpm install --immutable``.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REQUIRE_NODE = os.environ.get("NBTRAIL_REQUIRE_NODE") == "1"
ROOT = Path(__file__).resolve().parents[1]
EXTENSION = ROOT / "extension"
COMMITTED = ROOT / "kernel_helpers" / "nbtrail" / "labextension"
# What a build or an install leaves in extension/: never a source.
NOT_SOURCES = {"node_modules", "lib", "tsconfig.tsbuildinfo", ".yarn"}
REBUILD = (
    'cd extension && export YARN_NPM_REGISTRY_SERVER="$(npm config get registry)" && '
    '../.venv/bin/jlpm install && PATH="$PWD/../.venv/bin:$PATH" ../.venv/bin/jlpm build:prod'
)


# -- the API's types -------------------------------------------------------------------------


def test_the_committed_api_types_are_generated_from_the_server_shapes():
    from nbtrail.server.typescript import typescript

    committed = (EXTENSION / "src" / "api.ts").read_text(encoding="utf-8")
    generated = typescript()
    if committed != generated:
        diff = "".join(
            difflib.unified_diff(
                committed.splitlines(keepends=True),
                generated.splitlines(keepends=True),
                "extension/src/api.ts (committed)",
                "extension/src/api.ts (generated)",
            )
        )
        pytest.fail(
            "extension/src/api.ts is not what nbtrail/server/shapes.py generates: run "
            "`.venv/bin/python -m nbtrail.server.typescript --write`, then rebuild the bundle "
            f"({REBUILD}) and commit both\n{diff}"
        )


def test_the_frontend_writes_no_api_path():
    """Every request goes through ``endpoint(name)``: the routes come from the server."""
    from nbtrail.server.shapes import ENDPOINTS, NAMESPACE

    literal_request = re.compile(r"requestAPI\s*(<[^>]*>)?\s*\(\s*['\"`]")
    routes = {route.split("{")[0] for route in ENDPOINTS.values() if "/" in route}
    problems = []
    for source in sorted((EXTENSION / "src").glob("*.ts")):
        if source.name == "api.ts":
            continue
        text = source.read_text(encoding="utf-8")
        for match in literal_request.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            problems.append(f"{source.name}:{line}: requestAPI called with a literal path")
        for route in routes | {NAMESPACE}:
            for quote in "'\"`":
                if quote + route in text:
                    problems.append(f"{source.name}: writes the route {route!r}")
    assert not problems, "\n".join(problems)


# -- the bundle ------------------------------------------------------------------------------


def _tools() -> tuple[str, str]:
    """Node.js and jlpm, or a loud skip (a failure under NBTRAIL_REQUIRE_NODE=1)."""
    node = shutil.which("node")
    jlpm = Path(sys.executable).with_name("jlpm")
    jlpm = str(jlpm) if jlpm.exists() else shutil.which("jlpm")
    missing = "Node.js (node)" if node is None else "jlpm (JupyterLab)" if jlpm is None else None
    if missing:
        message = f"cannot rebuild the frontend bundle: {missing} is not installed"
        if REQUIRE_NODE:
            pytest.fail("NBTRAIL_REQUIRE_NODE=1 but " + message)
        pytest.skip("SKIPPED LOUDLY: " + message)
    return node, jlpm


def _environment() -> dict:
    env = dict(os.environ)
    # `jlpm build:labextension` runs `jupyter labextension build`, which runs `jupyter-builder`.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if "YARN_NPM_REGISTRY_SERVER" not in env and shutil.which("npm"):
        # jlpm ignores npm's registry setting; point it at the same one (see the README).
        registry = subprocess.run(
            ["npm", "config", "get", "registry"], capture_output=True, text=True, check=False
        ).stdout.strip()
        if registry:
            env["YARN_NPM_REGISTRY_SERVER"] = registry
    env.pop("NODE_OPTIONS", None)
    return env


def _run(command: list[str], folder: Path, *, timeout: int) -> None:
    done = subprocess.run(
        command,
        cwd=folder,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-4000:]
        pytest.fail(f"`{' '.join(command)}` failed in {folder} ({done.returncode}):\n{output}")


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)  # instant, and node_modules is never written by a build
    except OSError:
        shutil.copy2(source, target)  # another file system


def _copy_sources(target: Path) -> Path:
    """Copy ``extension/``'s sources (not what builds leave) to ``target/extension``."""
    copy = target / "extension"
    shutil.copytree(
        EXTENSION,
        copy,
        ignore=lambda folder, names: NOT_SOURCES & set(names) if Path(folder) == EXTENSION else (),
    )
    return copy


@pytest.fixture(scope="module")
def node_modules(tmp_path_factory) -> Path:
    """The extension's installed dependencies: ``extension/node_modules``, else a fresh install.

    A real folder, never a symbolic link: the bundler resolves links to where they point, and
    module names would then depend on that place.
    """
    _node, jlpm = _tools()
    installed = EXTENSION / "node_modules"
    if (installed / ".yarn-state.yml").is_file():
        return installed
    copy = _copy_sources(tmp_path_factory.mktemp("install"))
    _run([jlpm, "install", "--immutable"], copy, timeout=900)
    return copy / "node_modules"


def build_bundle(extension: Path, node_modules: Path) -> Path:
    """Run ``jlpm build:prod`` in a copy of the sources; return the folder it wrote the bundle to.

    ``extension`` is a folder named ``extension`` in a temporary folder; the bundle lands where
    its package.json's ``jupyterlab.outputDir`` says, as in the repository.
    """
    _node, jlpm = _tools()
    shutil.copytree(
        node_modules, extension / "node_modules", symlinks=True, copy_function=_link_or_copy
    )
    _run([jlpm, "build:prod"], extension, timeout=600)
    meta = json.loads((extension / "package.json").read_text(encoding="utf-8"))
    return (extension / meta["jupyterlab"]["outputDir"]).resolve()


def bundle_differences(committed: Path, built: Path) -> list[str]:
    """Every file that is only in one bundle or differs in a byte, by relative path."""

    def files(root: Path) -> dict[str, Path]:
        return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}

    old, new = files(committed), files(built)
    problems = [f"committed, not built: {name}" for name in sorted(old.keys() - new.keys())]
    problems += [f"built, not committed: {name}" for name in sorted(new.keys() - old.keys())]
    for name in sorted(old.keys() & new.keys()):
        if old[name].read_bytes() != new[name].read_bytes():
            problems.append(f"differs: {name}")
    return problems


def test_the_committed_bundle_is_what_the_sources_build(node_modules, tmp_path):
    built = build_bundle(_copy_sources(tmp_path), node_modules)
    problems = bundle_differences(COMMITTED, built)
    assert not problems, (
        "kernel_helpers/nbtrail/labextension is not what extension/ builds: rebuild it "
        f"({REBUILD}) and commit it\n" + "\n".join(problems)
    )


def test_a_source_changed_without_a_rebuild_is_caught(node_modules, tmp_path):
    """The comparison can fail: one rule added to the stylesheet changes the bundle."""
    copy = _copy_sources(tmp_path)
    with (copy / "style" / "base.css").open("a", encoding="utf-8") as css:
        css.write("\n.nbtrail-changed {\n  color: red;\n}\n")
    problems = bundle_differences(COMMITTED, build_bundle(copy, node_modules))
    assert "differs: package.json" in problems, problems  # it names the new entry point
    assert any(p.startswith("built, not committed: static/") for p in problems), problems
