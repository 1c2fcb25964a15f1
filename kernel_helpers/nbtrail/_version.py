"""The installed nbtrail's version.

A leaf: the store and the exporters stamp it without importing the whole package.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("nbtrail")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
