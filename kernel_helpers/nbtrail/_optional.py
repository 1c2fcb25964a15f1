"""Optional dependencies: imported when first needed, with a one-line remedy when missing.

The heavy or constraining libraries (shap, skl2onnx and onnxruntime, diffprivlib, Flower) live in
extras so the core installs beside the newest scikit-learn and pandas. Code that needs one calls
:func:`require`; nothing imports them at module level.
"""

from __future__ import annotations

import importlib

from .errors import MissingExtra

__all__ = ["EXTRAS", "require"]

# module -> the extra that installs it
EXTRAS = {
    "shap": "explain",
    "skl2onnx": "export",
    "onnxruntime": "export",
    "onnx": "export",
    "diffprivlib": "privacy",
    "fairlearn": "fairness",
    "flwr": "federated",
    "distributed": "dask",
    "dask": "dask",
    "s3fs": "s3",
}


def require(module: str, *, purpose: str = ""):
    """Import an optional module, or raise :class:`MissingExtra` naming the extra to install.

    Parameters
    ----------
    module : str
        The module to import, e.g. ``"shap"``.
    purpose : str
        What it is needed for, for the message (``"SHAP explanations"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".")[0]
        extra = EXTRAS.get(top)
        if exc.name not in (None, top, module):
            raise  # the module is there but one of its own imports failed: show that
        need = f" for {purpose}" if purpose else ""
        remedy = f"pip install 'nbtrail[{extra}]'" if extra else f"pip install {top}"
        raise MissingExtra(f"{top} is not installed{need}: {remedy}") from None
