"""nbtrail: lineage, checks and audited pipeline runs for notebook machine learning.

Everything nbtrail does reads and writes one store, the trail::

    import nbtrail

    trail = nbtrail.open_trail()          # the nearest .nbtrail folder, like git
    with trail.start_run("train") as run:
        data = run.use("data/adult.csv")  # a file: fingerprinted, linked
        model = run.produce(fitted_model, derived_from=[data], snapshot=True)
        run.log_metric("accuracy", 0.85)
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nbtrail")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

from .capture.fingerprints import Fingerprint, fingerprint, fingerprint_file
from .errors import NbtrailError
from .store import Run, Trail, init_trail, open_trail

__all__ = [
    "Fingerprint",
    "NbtrailError",
    "Run",
    "Trail",
    "__version__",
    "fingerprint",
    "fingerprint_file",
    "init_trail",
    "open_trail",
]
