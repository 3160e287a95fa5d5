"""Where prediction's time goes: each block of the default FCN, and the rest.

Usage::

    python benchmarks/predict_layers.py [TREE] [--nside 64] [--repeat 30]

Imports ``skdeepsphere`` from ``TREE`` (default: this checkout), builds
``run.default_fcn`` in eval mode and times 30 forward passes of a batch of
16 maps without autograd (after 5 warm-up passes), wrapping the
pixel-major inference of each block (filter, BatchNorm, ReLU, pooling) to
time it. Prints the minimum and median of each block and of the whole
forward pass; "rest" is the whole pass minus the blocks' minima (the
input transpose and the head).
"""

import argparse
import sys
import time
from pathlib import Path


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tree", nargs="?", default=str(Path(__file__).resolve().parents[1]))
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    sys.path[:0] = [args.tree + "/benchmarks", args.tree]
    import numpy as np
    import torch

    import skdeepsphere
    from run import default_fcn
    from skdeepsphere.nn import models

    model = default_fcn(args.nside, "cpu").eval()
    x = torch.randn(16, 1, 12 * args.nside**2)
    layer = models._inference_layer
    times = {}

    def timed(conv, norm, signals, batch, pool):
        start = time.perf_counter()
        out = layer(conv, norm, signals, batch, pool)
        times.setdefault(f"block {conv.in_channels}->{conv.out_channels}", []).append(
            time.perf_counter() - start)
        return out

    models._inference_layer = timed
    whole = []
    with torch.no_grad(), skdeepsphere.config_context(compile=True):
        for _ in range(5):
            model(x)
        times.clear()
        for _ in range(args.repeat):
            start = time.perf_counter()
            model(x)
            whole.append(time.perf_counter() - start)
    print(f"{skdeepsphere.__file__}: nside {args.nside}, batch 16")
    for name, values in times.items():
        print(f"  {name}: min {1e3 * min(values):.2f} ms, median {1e3 * np.median(values):.2f} ms")
    rest = min(whole) - sum(min(v) for v in times.values())
    print(f"  rest: {1e3 * rest:.2f} ms")
    print(f"  forward: min {1e3 * min(whole):.2f} ms, median {1e3 * np.median(whole):.2f} ms")


if __name__ == "__main__":
    main()
