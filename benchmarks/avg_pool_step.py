"""Training step of the default FCN with ``pooling="avg"``, for one source tree.

Usage::

    python benchmarks/avg_pool_step.py TREE

Imports ``skdeepsphere`` from ``TREE`` (e.g. a ``git worktree`` of an older
commit; alternate calls on two trees to compare them), builds the default
FCN's blocks (channels 16, 32, 64, 64, K = 5, 4 poolings) at nside 64 with
average pooling, and prints the minimum over 10 steps (zero_grad, forward,
cross-entropy, backward, Adam; batch 16; compilation on; 2 warm-up steps).
"""

import sys
import time

sys.path.insert(0, sys.argv[1])

import torch  # noqa: E402

import skdeepsphere  # noqa: E402
from skdeepsphere.graph import laplacian_hierarchy  # noqa: E402
from skdeepsphere.nn import DeepSphere  # noqa: E402


def main():
    laplacians, _, parents = laplacian_hierarchy(64, None, 4)
    torch.manual_seed(0)
    model = DeepSphere(laplacians, parents, 1, 2, channels=(16, 32, 64, 64), cheb_order=5,
                       pooling="avg")
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.randn(16, 1, 12 * 64**2), torch.randint(0, 2, (16,))
    times = []
    with skdeepsphere.config_context(compile=True):
        for _ in range(12):
            start = time.perf_counter()
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
            times.append(time.perf_counter() - start)
    print(f"{skdeepsphere.__file__}: min step {min(times[2:]):.3f} s")


if __name__ == "__main__":
    main()
