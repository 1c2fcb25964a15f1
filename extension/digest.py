"""Digest of the frontend's sources, stored beside the built bundle.

``jlpm build:prod`` writes it after building; the test suite recomputes it and fails when the
sources changed but the committed bundle was not rebuilt. (Bundles themselves differ by build
folder, since module ids hash paths, so the sources are what is compared.)
"""

import sys
from pathlib import Path

import xxhash

HERE = Path(__file__).resolve().parent
SOURCES = ["package.json", "yarn.lock", "tsconfig.json", "src", "style", "schema"]
TARGET = HERE.parent / "kernel_helpers" / "nbtrail" / "labextension" / "source.digest"


def digest() -> str:
    """Return the XXH3-128 digest of every source file, names included."""
    hasher = xxhash.xxh3_128()
    for name in SOURCES:
        path = HERE / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            hasher.update(str(file.relative_to(HERE)).encode() + b"\0")
            hasher.update(file.read_bytes())
    return hasher.hexdigest()


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        TARGET.write_text(digest() + "\n")
    print(digest())
