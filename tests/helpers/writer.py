"""A process that writes facts to a trail, for the concurrency and kill tests.

    python writer.py STORE_URL BLOB_DIR WORKER_ID COUNT      # write COUNT facts, then exit
    python writer.py STORE_URL BLOB_DIR WORKER_ID forever    # write until killed

Each batch of facts: a run, metrics, a unique frame used (artifact + edge), a shared frame used
(one artifact for all workers: exercises de-duplication under races), and in `forever` mode
snapshots of sizeable frames and files (blob writes to be interrupted).
"""

import os
import sys

import numpy as np
import pandas as pd

from nbtrail.config import Settings
from nbtrail.store import LocalBlobStore, Trail

SHARED = pd.DataFrame({"shared": np.arange(100)})


def main() -> None:
    url, blob_dir, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    trail = Trail(
        url,
        blobs=LocalBlobStore(blob_dir),
        home=None,
        settings=Settings(actor=f"worker-{worker}"),
        create=True,
    )
    rng = np.random.default_rng(worker)
    if count == "forever":
        print("ready", flush=True)
        n = 0
        while True:
            with trail.start_run(f"w{worker}-{n}") as run:
                run.log_metric("n", n)
                big = pd.DataFrame(rng.normal(size=(50_000, 8)), columns=list("abcdefgh"))
                run.use(big, name="big", snapshot=True)
                path = os.path.join(blob_dir, os.pardir, f"file-{worker}-{n}.bin")
                with open(path, "wb") as fh:
                    fh.write(rng.bytes(2_000_000))
                run.use(path, snapshot=True)
                run.use(SHARED, name="shared")
            n += 1
    total = int(count)
    # 1 run + 99 metrics + 50 x (artifact + edge) = 200 facts, + the shared use (1 edge).
    with trail.start_run(f"worker-{worker}") as run:
        for i in range(99):
            run.log_metric("m", float(i), step=i)
        for i in range((total - 100) // 2):
            run.use(pd.DataFrame({"w": [worker], "i": [i]}), name=f"frame-{i}")
        run.use(SHARED, name="shared")
    trail.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
