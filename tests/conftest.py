import os

import matplotlib
import numpy as np
import pytest
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


@pytest.fixture(scope="module")
def maps_and_labels():
    """40 two-channel nside-8 maps of two classes that differ in scale."""
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20)
    X = rng.standard_normal((40, 2, 768)) * (1 + 0.5 * y[:, None, None]) + 0.3
    return X.astype(np.float32), y
