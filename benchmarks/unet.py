"""Training-step throughput and peak memory of the U-Net next to the FCN (issue 20).

Usage::

    python benchmarks/unet.py [--nside 64 256] [--repeat 2] [--device cpu]

Each (architecture, nside) runs in its own process so that its peak
resident memory (``VmHWM``) is its own. A step is forward, loss, backward
and Adam update on a batch of random maps: the FCN (DeepSphere's
classifier, one label per map) and the U-Net (one label per pixel) share the
encoder widths ``(16, 32, 64, 64)``, ``cheb_order=5`` and the batch size.
The children run alternately, ``--repeat`` rounds, and the minimum step
time of each is kept (the least disturbed by other processes).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

CHANNELS = (16, 32, 64, 64)
BATCH = {64: 8, 256: 2}


def peak_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def current_rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(architecture, nside, steps, device):
    import numpy as np
    import torch

    from skdeepsphere.graph import laplacian_hierarchy
    from skdeepsphere.nn import DeepSphere, SphericalUNet

    torch.manual_seed(0)
    n_levels = 3  # 4 blocks: the FCN pools after 3 of them like the U-Net
    laplacians, pixel_sets, parents = laplacian_hierarchy(nside, None, n_levels)
    if architecture == "unet":
        model = SphericalUNet(laplacians, parents, 1, 2, channels=CHANNELS, cheb_order=5)
    else:
        model = DeepSphere(laplacians, parents, 1, 2, channels=CHANNELS, cheb_order=5)
    model = model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batch = BATCH.get(nside, 4)
    npix = pixel_sets[0].size
    x = torch.randn(batch, 1, npix, device=device)
    y = (torch.randint(0, 2, (batch, npix), device=device) if architecture == "unet"
         else torch.randint(0, 2, (batch,), device=device))
    loss_function = torch.nn.CrossEntropyLoss()
    setup_rss = current_rss_mb()

    def step():
        optimizer.zero_grad()
        loss = loss_function(model(x), y)
        loss.backward()
        optimizer.step()
        if device == "cuda":
            torch.cuda.synchronize()

    start = time.perf_counter()
    step()  # warm-up: first allocations
    first = time.perf_counter() - start
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    # --steps 0 (for very slow settings) reports the first step, allocations included.
    result = {"seconds": min(times) if times else first, "batch": batch, "setup_rss_mb": setup_rss,
              "peak_rss_mb": peak_rss_mb(),
              "parameters": sum(p.numel() for p in model.parameters())}
    if device == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


def run_child(architecture, nside, steps, device):
    command = [sys.executable, __file__, "--child", architecture, str(nside), str(steps), device]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, nargs="+", default=[64, 256])
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3,
                        help="timed steps after the warm-up one; 0 times the warm-up step")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        architecture, nside, steps, device = args.child
        return child(architecture, int(nside), int(steps), device)
    load = os.getloadavg()[0]
    print(f"load average at start {load:.1f} on {os.cpu_count()} CPUs (timings are minima; "
          "on a shared machine compare the ratios, not the absolute values)")
    print(f"{'nside':>5} {'arch':>4} {'batch':>5} {'step s':>8} {'maps/s':>8} "
          f"{'peak RSS MB':>11} {'peak - setup MB':>15}")
    for nside in args.nside:
        best = {}
        for round_ in range(args.repeat):
            order = ("fcn", "unet") if round_ % 2 == 0 else ("unet", "fcn")
            for architecture in order:
                result = run_child(architecture, nside, args.steps, args.device)
                kept = best.get(architecture)
                if kept is None or result["seconds"] < kept["seconds"]:
                    best[architecture] = result
        for architecture in ("fcn", "unet"):
            r = best[architecture]
            print(f"{nside:5d} {architecture:>4} {r['batch']:5d} {r['seconds']:8.3f} "
                  f"{r['batch'] / r['seconds']:8.1f} {r['peak_rss_mb']:11.0f} "
                  f"{r['peak_rss_mb'] - r['setup_rss_mb']:15.0f}"
                  + (f"  cuda peak {r['peak_cuda_mb']:.0f} MB" if "peak_cuda_mb" in r else ""))
        fcn, unet = best["fcn"], best["unet"]
        print(f"nside {nside}: the U-Net step takes {unet['seconds'] / fcn['seconds']:.2f}x "
              f"the FCN's and its peak memory during training is "
              f"{(unet['peak_rss_mb'] - unet['setup_rss_mb']) / max(fcn['peak_rss_mb'] - fcn['setup_rss_mb'], 1):.2f}x "
              f"(above the built model); parameters {unet['parameters']} vs {fcn['parameters']}")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
