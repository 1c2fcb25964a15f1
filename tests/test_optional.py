"""Heavy libraries are extras: imported when needed, a one-line remedy when missing."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from nbtrail._optional import EXTRAS, require
from nbtrail.errors import MissingExtra


@pytest.mark.parametrize(("module", "extra"), sorted(EXTRAS.items()))
def test_a_missing_extra_names_what_to_install(monkeypatch, module, extra):
    real = importlib.import_module

    def missing(name, *args, **kwargs):
        if name.split(".")[0] == module:
            raise ModuleNotFoundError(f"No module named {module!r}", name=module)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib, "import_module", missing)
    with pytest.raises(MissingExtra) as caught:
        require(module, purpose="the thing")
    message = str(caught.value)
    assert message == f"{module} is not installed for the thing: pip install 'nbtrail[{extra}]'"
    assert "\n" not in message and isinstance(caught.value, ImportError)


def test_a_broken_dependency_of_an_installed_extra_is_not_hidden(monkeypatch):
    def broken(name, *args, **kwargs):
        raise ModuleNotFoundError("No module named 'numba'", name="numba")

    monkeypatch.setattr(importlib, "import_module", broken)
    with pytest.raises(ModuleNotFoundError, match="numba"):
        require("shap")


def test_an_installed_extra_is_imported():
    assert require("json").dumps([1]) == "[1]"


def test_importing_nbtrail_imports_no_extra():
    code = (
        "import sys, nbtrail, nbtrail.checks, nbtrail.pipeline, nbtrail.server, nbtrail.cli\n"
        "print(sorted(m for m in ('shap', 'skl2onnx', 'onnxruntime', 'diffprivlib') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_importing_nbtrail_reads_no_package_metadata_until_the_version_is_asked():
    code = (
        "import sys, nbtrail\n"
        "before = 'importlib.metadata' in sys.modules\n"
        "version = nbtrail.__version__\n"
        "print(before, 'importlib.metadata' in sys.modules, bool(version))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["False", "True", "True"]
