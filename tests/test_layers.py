"""Layers point one way, and private modules stay private to their package.

The layer contract lives in pyproject.toml ([tool.importlinter]) and is checked by
import-linter, lazy imports inside functions included. Private modules (``_name``) are a
package's own: another package imports the names its ``__init__`` re-exports.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "kernel_helpers" / "nbtrail"


def _lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    command = Path(sys.executable).parent / "lint-imports"
    env = {"PYTHONPATH": str(pythonpath), "PATH": str(Path(sys.executable).parent)}
    return subprocess.run(
        [str(command), "--no-cache"], cwd=cwd, capture_output=True, text=True, env=env
    )


def test_the_layer_contract_is_kept():
    result = _lint_imports(ROOT, ROOT / "kernel_helpers")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "layers point one way KEPT" in result.stdout


def test_the_layer_contract_catches_a_store_that_imports_capture(tmp_path):
    copy = tmp_path / "src" / "nbtrail"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("labextension", "datasets"))
    (copy / "datasets").mkdir()
    (copy / "datasets" / "__init__.py").write_text("")
    trail = copy / "store" / "_trail.py"
    trail.write_text(trail.read_text() + "\n\ndef _sneaky():\n    from ..capture import track\n")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    result = _lint_imports(tmp_path, tmp_path / "src")
    assert result.returncode != 0
    assert "nbtrail.store is not allowed to import nbtrail.capture" in result.stdout


def _module_name(path: Path) -> tuple[str, str]:
    """(module, package its relative imports start from) of a file of the package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    if path.name == "__init__.py":
        return ".".join(parts[:-1]), ".".join(parts[:-1])
    return ".".join(parts), ".".join(parts[:-1])


def _private_imports(source: str, module: str, package: str) -> set[tuple[str, str]]:
    """(importing module, imported private module) for imports of another package's `_module`."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            continue
        for name in targets:
            parts = name.split(".")
            if parts[0] != "nbtrail":
                continue
            for i, part in enumerate(parts):
                if part.startswith("_") and not part.startswith("__"):
                    owner = ".".join(parts[:i])
                    if not (module == owner or module.startswith(owner + ".")):
                        found.add((module, ".".join(parts[: i + 1])))
                    break
    return found


def test_no_package_imports_another_packages_private_modules():
    violations = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        violations |= _private_imports(path.read_text(encoding="utf-8"), *_module_name(path))
    assert sorted(violations) == []


def test_the_private_import_check_sees_a_violation():
    source = "from ..checks._render import CHECK_CSS\nfrom ..store import Trail\n"
    found = _private_imports(source, "nbtrail.report.html", "nbtrail.report")
    assert found == {("nbtrail.report.html", "nbtrail.checks._render")}
    own = "from ._render import CHECK_CSS\nfrom .._json import jsonable\n"
    assert _private_imports(own, "nbtrail.checks._result", "nbtrail.checks") == set()
