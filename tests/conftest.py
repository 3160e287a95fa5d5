import os

import matplotlib
import torch

matplotlib.use("Agg")

# pytest-xdist runs one worker per core: one torch thread each avoids
# oversubscribing the CPU.
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)

# healpy's OpenMP threads slow small transforms down badly when the two
# xdist workers already occupy both cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
