"""Fit a spherical CNN on a numpy.memmap several times larger than the memory
the process may allocate, and report its peak resident memory.

The parent writes (once) a float32 file of ``--data-gb`` GB of HEALPix maps
and starts a child process that limits its private memory (heap and
anonymous mappings, ``RLIMIT_DATA``) to ``--limit-mb`` MB before importing
torch, then fits ``SphericalCNNClassifier`` on ``numpy.memmap(mode="r")``
and predicts on it. A file mapping is not private memory, so the limit
leaves the data on disk but fails any attempt to copy it into memory: the
child checks that ``numpy.array(maps)`` raises ``MemoryError`` under the
same limit. It reports ``ru_maxrss`` (peak RSS, file pages included) and
the peaks of ``RssAnon``, ``RssFile`` and ``VmData``, which the parent reads
from ``/proc/<pid>/status`` every 10 ms.

Linux only. Usage::

    python benchmarks/memmap_fit.py                 # 3.6 GB of nside-64 maps, 1 GB limit
    python benchmarks/memmap_fit.py --data-gb 0.4   # quick
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

NSIDE = 64
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout


def write_maps(path, n_maps, npix, seed=0):
    """Two classes of white-noise maps (amplitude 1 or 1.5), written in blocks."""
    maps = np.memmap(path, dtype=np.float32, mode="w+", shape=(n_maps, npix))
    rng = np.random.default_rng(seed)
    labels = np.arange(n_maps) % 2
    block = max(1, 2**26 // (4 * npix))
    for start in range(0, n_maps, block):
        stop = min(start + block, n_maps)
        noise = rng.standard_normal((stop - start, npix), dtype=np.float32)
        maps[start:stop] = noise * (1 + 0.5 * labels[start:stop, None])
    maps.flush()
    del maps
    return labels


def child(path, n_maps, npix, limit_bytes, epochs):
    import resource

    resource.setrlimit(resource.RLIMIT_DATA, (limit_bytes, limit_bytes))
    import torch

    torch.set_num_threads(1)
    from skdeepsphere import SphericalCNNClassifier

    maps = np.memmap(path, dtype=np.float32, mode="r", shape=(n_maps, npix))
    labels = np.arange(n_maps) % 2
    start = time.perf_counter()
    # A small network: the point is the data path, not the model.
    clf = SphericalCNNClassifier(channels=(2,), cheb_order=2, n_poolings=1,
                                 max_epochs=epochs, batch_size=32, lr=1e-2,
                                 random_state=0, device="cpu")
    clf.fit(maps, labels)
    fit_seconds = time.perf_counter() - start
    accuracy = float(np.mean(clf.predict(maps) == labels))
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        np.array(maps)
        materialise = "succeeded (the limit is too high to prove anything)"
    except MemoryError:
        materialise = "MemoryError"
    print(json.dumps({
        "ru_maxrss": max_rss,  # before the copy attempt
        "fit_seconds": fit_seconds, "train_accuracy": accuracy,
        "materialise": materialise,
    }))


def sample_peaks(process):
    """Peaks of the child's memory, read by the parent every 10 ms (a sampling
    thread in the child would change the child's allocation pattern)."""
    peak = {"RssAnon": 0, "RssFile": 0, "VmData": 0}
    while process.poll() is None:
        try:
            with open(f"/proc/{process.pid}/status") as status:
                for line in status:
                    key = line.split(":")[0]
                    if key in peak:
                        peak[key] = max(peak[key], int(line.split()[1]) * 1024)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            break
        time.sleep(0.01)
    return peak


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-gb", type=float, default=3.6)
    parser.add_argument("--limit-mb", type=float, default=1024)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--dir", default=tempfile.gettempdir(),
                        help="folder of the data file (kept for later runs)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        path, n_maps, npix, limit, epochs = args.child
        child(path, int(n_maps), int(npix), int(limit), int(epochs))
        return

    npix = 12 * NSIDE**2
    n_maps = int(args.data_gb * 1e9 // (4 * npix))
    path = os.path.join(args.dir, f"skdeepsphere_memmap_{n_maps}x{npix}.f32")
    if not os.path.exists(path) or os.path.getsize(path) != 4 * n_maps * npix:
        start = time.perf_counter()
        write_maps(path, n_maps, npix)
        print(f"wrote {path} in {time.perf_counter() - start:.0f} s")
    data_bytes = os.path.getsize(path)
    limit = int(args.limit_mb * 2**20)
    process = subprocess.Popen(
        [sys.executable, __file__, "--child", path, str(n_maps), str(npix), str(limit),
         str(args.epochs)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # One malloc arena: glibc reserves 64 MB of address space per thread
        # arena, which RLIMIT_DATA counts although it is never touched. A
        # fixed mmap threshold: glibc's default one rises once large blocks
        # are freed, and the heap that then serves them fragments until a
        # long predict exceeds the limit.
        env={**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "1",
             "MALLOC_MMAP_THRESHOLD_": os.environ.get("MALLOC_MMAP_THRESHOLD_", "4194304"),
             "PYTHONPATH": os.pathsep.join(
            [ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p])})
    peak = sample_peaks(process)
    stdout, stderr = process.communicate()
    if process.returncode:
        sys.exit(f"child failed (peaks {peak}):\n{stderr}")
    report = json.loads(stdout.strip().splitlines()[-1])
    report.update(peak_rss_anon=peak["RssAnon"], peak_rss_file=peak["RssFile"],
                  peak_vm_data=peak["VmData"])
    mb = 2**20
    print(f"data: {n_maps} maps at nside {NSIDE} (float32) = {data_bytes / mb:.0f} MB "
          f"on disk, read through numpy.memmap(mode='r')")
    print(f"private memory limit (RLIMIT_DATA): {limit / mb:.0f} MB "
          f"-> data / limit = {data_bytes / limit:.1f}x")
    print(f"numpy.array(maps) under the limit: {report['materialise']}")
    print(f"fit ({args.epochs} epoch): {report['fit_seconds']:.0f} s; predict on the memmap: "
          f"train accuracy {report['train_accuracy']:.2f}")
    print(f"peak RSS (ru_maxrss): {report['ru_maxrss'] / mb:.0f} MB "
          f"-> data / peak RSS = {data_bytes / report['ru_maxrss']:.1f}x")
    print(f"peak RssAnon: {report['peak_rss_anon'] / mb:.0f} MB, "
          f"peak RssFile: {report['peak_rss_file'] / mb:.0f} MB, "
          f"peak VmData (what the limit counts): {report['peak_vm_data'] / mb:.0f} MB")


if __name__ == "__main__":
    main()
