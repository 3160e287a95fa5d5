"""Side-by-side performance figures of skdeepsphere (issue 6).

Usage::

    python benchmarks/run.py [--quick] [--json PATH] [--device cpu|cuda]

Prints one line per figure and optionally writes
``{name: {"value": ..., "unit": ..., ...}}`` as JSON. Every ratio is
measured within the same run, side by side, on the same inputs. Timings are
the minimum over repetitions (the least disturbed by other processes).
"""

import argparse
import copy
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import healpy as hp  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from textbook import textbook_chebconv, textbook_forward, torch_sparse_laplacian  # noqa: E402

import skdeepsphere  # noqa: E402
from skdeepsphere.graph import healpix_laplacian, laplacian_hierarchy  # noqa: E402
from skdeepsphere.nn import ChebConv, DeepSphere, HealpixPool, SparseLaplacian  # noqa: E402
from skdeepsphere.nn._kernels import laplacian_step  # noqa: E402


def _synchronize(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timeit(function, device, repeat, warmup=1):
    """Minimum wall time of ``function()`` over ``repeat`` runs."""
    return compare({"f": function}, device, repeat, warmup)["f"]


def compare(functions, device, repeat, warmup=1, consecutive=1):
    """Minimum wall time of each function, measured round-robin.

    Interleaving the candidates exposes them to the same disturbances (other
    processes, frequency changes), so their ratios are fairer than those of
    back-to-back series. With ``consecutive > 1`` each candidate runs that
    many times in a row in each round, every run timed: the later ones show
    its steady state, as in a fit whose steps follow each other.
    """
    for function in functions.values():
        for _ in range(warmup):
            function()
    best = dict.fromkeys(functions, float("inf"))
    for _ in range(repeat):
        for name, function in functions.items():
            for _ in range(consecutive):
                _synchronize(device)
                start = time.perf_counter()
                function()
                _synchronize(device)
                best[name] = min(best[name], time.perf_counter() - start)
    return best


def laplacian_figures(device, quick):
    nside, n_signals = 64, 512
    repeat = 10 if quick else 30
    laplacian = healpix_laplacian(nside)
    n_pixels = laplacian.shape[0]
    operator = SparseLaplacian(laplacian).to(device)
    x = torch.randn(n_pixels, n_signals, device=device)
    start = time.perf_counter()
    with torch.no_grad():
        ours = operator(x)
        laplacian_step(operator, x, 2.0, x, 1.0)
    first_call = time.perf_counter() - start
    expected = laplacian.astype(np.float64) @ x.double().cpu().numpy()
    np.testing.assert_allclose(ours.cpu().numpy(), expected, rtol=1e-4, atol=1e-4)
    del ours
    matrix = torch_sparse_laplacian(laplacian, device)
    useful = 8 * n_pixels * n_signals  # read x once, write y once
    # The reference: copying x (same bytes) into a block allocated once.
    target = torch.empty_like(x)
    candidates = {
        "copy": lambda: target.copy_(x),
        "ours": lambda: operator(x),
        "torch_sparse": lambda: torch.sparse.mm(matrix, x),
        "chebyshev_step": lambda: laplacian_step(operator, x, 2.0, x, 1.0),
        # The kernel writing into a block that is never recycled by the pool:
        # what the first use of fresh memory costs.
        "fresh_output": lambda: laplacian_step(operator, x, 1.0, out=torch.empty_like(x)),
    }
    if device.type == "cpu":
        x_numpy = x.numpy()
        candidates["scipy_csr"] = lambda: laplacian @ x_numpy
    with torch.no_grad():
        seconds = compare(candidates, device, repeat)
    bandwidth = useful / seconds["copy"]
    fractions = {f"{name}_fraction": useful / t / bandwidth
                 for name, t in seconds.items() if name not in ("copy", "ours")}
    return {
        "copy_bandwidth": {"value": bandwidth / 1e9, "unit": "GB/s",
                           "note": "copy_ of x into a preallocated block, read + write"},
        "laplacian_apply_bandwidth_fraction": {
            "value": useful / seconds["ours"] / bandwidth,
            "unit": "fraction of copy bandwidth",
            "target": 0.5, "nside": nside, "n_signals": n_signals,
            "seconds": seconds["ours"], "useful_GB_per_s": useful / seconds["ours"] / 1e9,
            **fractions,
            "first_call_seconds": first_call,
            "compile": skdeepsphere.get_config()["compile"],
        },
    }


def chebconv_figures(device, quick):
    nside = 32 if quick else 64
    batch, c_in, c_out, cheb_order = 16, 16, 32, 5
    repeat = 5 if quick else 7
    laplacian = healpix_laplacian(nside)
    torch.manual_seed(0)
    conv = ChebConv(c_in, c_out, laplacian, cheb_order=cheb_order).to(device)
    matrix = torch_sparse_laplacian(laplacian, device)
    x = torch.randn(batch, c_in, laplacian.shape[0], device=device, requires_grad=True)
    grad = torch.randn(batch, c_out, laplacian.shape[0], device=device)

    def ours():
        conv(x).backward(grad)

    def textbook():
        textbook_chebconv(conv, matrix, x).backward(grad)

    out_ours = conv(x)
    out_textbook = textbook_chebconv(conv, matrix, x)
    scale = out_textbook.abs().max().item()
    torch.testing.assert_close(out_ours, out_textbook, rtol=1e-4, atol=1e-4 * scale)
    del out_ours, out_textbook
    x.grad = None
    ours()
    grads_ours = (x.grad.clone(), conv.weight.grad.clone())
    x.grad = None
    conv.weight.grad = None
    textbook()
    for a, b in zip(grads_ours, (x.grad, conv.weight.grad)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4 * b.abs().max().item())
    seconds = compare({"textbook": textbook, "ours": ours}, device, repeat)
    return {"chebconv_speedup_vs_torch_sparse": {
        "value": seconds["textbook"] / seconds["ours"], "unit": "x", "target": 3.0,
        "seconds_ours": seconds["ours"], "seconds_textbook": seconds["textbook"],
        "shape": f"nside={nside} batch={batch} C_in={c_in} C_out={c_out} K={cheb_order}",
        "forward_and_backward": True, "results_equal": "rtol 1e-4"}}


def fit_child(nside, n_maps, batch_size, textbook, device):
    """Run in a subprocess: warm-up fit, timed fit, print JSON."""
    import skdeepsphere.nn.conv as conv_module
    from skdeepsphere import SphericalCNNClassifier
    if textbook:
        conv_module.ChebConv.forward = textbook_forward
        # Standard BatchNorm, ReLU and pooling modules, called one by one.
        skdeepsphere.set_config(kernels="reference")
    rng = np.random.default_rng(0)
    npix = hp.nside2npix(nside)
    maps = rng.standard_normal((n_maps, npix)).astype(np.float32)
    labels = np.arange(n_maps) % 2
    maps[labels == 1] = hp.smoothing(maps[labels == 1][0], fwhm=0.05)[None] + 0.1 * maps[labels == 1]

    def fit(n):
        model = SphericalCNNClassifier(
            nside=nside, channels=(16, 32, 64, 64), cheb_order=5, max_epochs=1,
            batch_size=batch_size, lr=1e-3, device=device, random_state=0)
        start = time.perf_counter()
        model.fit(maps[:n], labels[:n])
        return time.perf_counter() - start

    warmup = fit(batch_size)  # imports, first allocations, torch.compile
    # Two timed fits where they are short (the minimum is the least disturbed).
    seconds = min(fit(n_maps) for _ in range(2 if nside <= 64 else 1))
    print(json.dumps({"seconds": seconds, "warmup_seconds": warmup,
                      "peak_rss_mb": peak_rss_mb()}))


def peak_rss_mb():
    """Peak resident memory of this process in MB.

    ``VmHWM`` restarts at ``exec``, unlike ``ru_maxrss``, which a child
    inherits from the parent it was forked from (the benchmark's parent holds
    over 1 GB by then).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(*args):
    command = [sys.executable, __file__, "--fit-child", *map(str, args)]
    result = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def fit_figures(device, quick):
    try:
        from skdeepsphere import SphericalCNNClassifier  # noqa: F401
    except ImportError as error:
        reason = f"skipped: SphericalCNNClassifier not available ({error})"
        return {name: {"value": reason, "unit": ""} for name in
                ("fit_throughput_maps_per_s", "peak_rss_mb")}
    settings = [(32, 32, 16)] if quick else [(64, 64, 16), (256, 16, 8)]
    figures = {}
    for nside, n_maps, batch_size in settings:
        ours = run_child(nside, n_maps, batch_size, 0, device.type)
        textbook = run_child(nside, n_maps, batch_size, 1, device.type)
        figures[f"fit_throughput_maps_per_s_nside{nside}"] = {
            "value": n_maps / ours["seconds"], "unit": "maps/s (1 epoch, train step)",
            "textbook_maps_per_s": n_maps / textbook["seconds"],
            "ratio_vs_textbook": textbook["seconds"] / ours["seconds"],
            "n_maps": n_maps, "batch_size": batch_size, "channels": "(16, 32, 64, 64)",
            "cheb_order": 5}
        figures[f"peak_rss_mb_nside{nside}"] = {
            "value": ours["peak_rss_mb"], "unit": "MB", "textbook_mb": textbook["peak_rss_mb"]}
    return figures


def default_fcn(nside, device, seed=0):
    """The estimators' default network: FCN, channels (16, 32, 64, 64), K = 5."""
    laplacians, _, parents = laplacian_hierarchy(nside, None, 4)
    torch.manual_seed(seed)
    return DeepSphere(laplacians, parents, 1, 2, channels=(16, 32, 64, 64),
                      cheb_order=5).to(device)


def textbook_copy(model):
    """The same network and weights with every ChebConv computed the textbook way."""
    textbook = copy.deepcopy(model)
    for module in textbook.modules():
        if isinstance(module, ChebConv):
            module.forward = types.MethodType(textbook_forward, module)
    return textbook


def machine_rates(device):
    """Measured sgemm rate (FLOP/s) and copy bandwidth (bytes/s, read + write)."""
    a = torch.randn(2048, 2048, device=device)
    b = torch.randn(2048, 2048, device=device)
    out = torch.empty(2048, 2048, device=device)
    x = torch.randn(25 * 2**20, device=device)
    target = torch.empty_like(x)
    seconds = compare({"gemm": lambda: torch.mm(a, b, out=out),
                       "copy": lambda: target.copy_(x)}, device, 10)
    return 2 * 2048**3 / seconds["gemm"], 8 * x.numel() / seconds["copy"]


def step_lower_bound(model, batch, sgemm_rate, bandwidth):
    """A lower bound of one training step's time, and its FLOPs and bytes.

    FLOPs: the GEMMs of every ChebConv, ``2 rows K C_in C_out`` for the
    output, as much for the weight gradient and (except the first layer,
    whose input needs no gradient) for the input gradient, at the measured
    sgemm rate. Bytes, at the measured copy bandwidth: each Laplacian pass
    reads and writes one block of ``n_pixels * batch * C_in`` floats,
    ``K - 1`` passes forward and ``K - 1`` backward (input gradient); every
    BatchNorm and ReLU reads its input and writes its output once forward
    and once backward; pooling reads 4 and writes 1 value per parent
    forward, the reverse backward. Everything else (statistics passes,
    layout changes, the optimizer, the head's pixel means) is left out: a
    bound no implementation can beat on this machine.
    """
    flops = bytes_ = 0.0
    first = True
    for module in model.modules():
        if isinstance(module, ChebConv):
            rows = module.laplacian.n_pixels * batch
            k, c_in, c_out = module.cheb_order, module.in_channels, module.out_channels
            gemm = 2.0 * rows * k * c_in * c_out
            flops += gemm * (2 if first else 3)
            bytes_ += 8.0 * rows * c_in * (k - 1) * (1 if first else 2)
            first = False
            size = rows * c_out
        elif isinstance(module, (torch.nn.BatchNorm1d, torch.nn.ReLU)):
            bytes_ += 2 * 8.0 * size
        elif isinstance(module, HealpixPool):
            bytes_ += 2 * 4.0 * (size + size / 4)
            size /= 4
    return flops / sgemm_rate + bytes_ / bandwidth, flops, bytes_


def step_figures(device, quick, nsides=None):
    """Training step and prediction of the default FCN against the textbook one."""
    sgemm_rate, bandwidth = machine_rates(device)
    figures = {"sgemm_rate": {"value": sgemm_rate / 1e9, "unit": "GFLOP/s",
                              "note": "torch.mm of two 2048 x 2048 float32 matrices"}}
    batch = 16
    targets = {32: 3.0, 64: 4.0, 256: 4.0}
    for nside in nsides or ([32] if quick else [32, 64, 256]):
        # Minima of 10 (step) and 20 (prediction) round-robin repetitions:
        # with 3, one slow spell of a shared machine moved the ratios by a third.
        repeat = (3 if quick else 10) if nside < 256 else 2
        ours = default_fcn(nside, device)
        textbook = textbook_copy(ours)
        x = torch.randn(batch, 1, 12 * nside**2, device=device)
        y = torch.arange(batch, device=device) % 2
        with torch.no_grad():
            a, b = ours(x), textbook(x)
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-3 * b.abs().max().item())
            del a, b

        def step(model, optimizer, kernels):
            def run():
                # kernels="reference": DeepSphere calls its standard modules
                # one by one (the textbook ChebConv forward is patched in).
                # compile=True (the same as the default "auto"): the C kernels.
                with skdeepsphere.config_context(kernels=kernels, compile=True):
                    optimizer.zero_grad(set_to_none=True)
                    torch.nn.functional.cross_entropy(model(x), y).backward()
                    optimizer.step()
            return run

        # At nside 256 a textbook step takes 30-40 s, long enough for the
        # block pool to return our idle blocks to the system (after 2 s), so
        # that our next step pays page faults for all its memory (twice the
        # steady-state time) - which a fit, whose steps follow each other,
        # never does. There each candidate takes two steps in a row per round.
        consecutive = 2 if nside >= 256 else 1
        seconds = compare({
            "textbook": step(textbook, torch.optim.Adam(textbook.parameters(), lr=1e-3),
                             "reference"),
            "ours": step(ours, torch.optim.Adam(ours.parameters(), lr=1e-3), "fast")},
            device, repeat, consecutive=consecutive)
        bound, flops, bytes_ = step_lower_bound(ours, batch, sgemm_rate, bandwidth)
        figures[f"train_step_speedup_nside{nside}"] = {
            "value": seconds["textbook"] / seconds["ours"], "unit": "x",
            "target": targets[nside], "seconds_ours": seconds["ours"],
            "seconds_textbook": seconds["textbook"], "batch": batch,
            "consecutive_steps": consecutive,
            "model": "default FCN (16, 32, 64, 64), K=5, BatchNorm, max-pool, Adam"}
        figures[f"train_step_roofline_nside{nside}"] = {
            "value": bound / seconds["ours"], "unit": "lower bound / step time",
            "target": 0.25, "lower_bound_seconds": bound, "gflops": flops / 1e9,
            "gbytes": bytes_ / 1e9, "textbook_fraction": bound / seconds["textbook"]}
        if nside == 64 or quick:
            ours.eval()
            textbook.eval()
            def textbook_predict():
                with skdeepsphere.config_context(kernels="reference"):
                    return textbook(x)

            def ours_predict():
                with skdeepsphere.config_context(compile=True):
                    return ours(x)

            with torch.no_grad():
                predict = compare({"textbook": textbook_predict, "ours": ours_predict},
                                  device, 2 * repeat)
            figures[f"predict_speedup_nside{nside}"] = {
                "value": predict["textbook"] / predict["ours"], "unit": "x",
                "target": 4.0 if nside == 64 else None,
                "maps_per_s_ours": batch / predict["ours"],
                "maps_per_s_textbook": batch / predict["textbook"], "batch": batch}
        del ours, textbook
    return figures


def _transpose_copy(source, out):
    return out.copy_(source.T)


def changes_figures(device, quick):
    """What each change of issue 18 buys: one training step, candidates interleaved.

    ``textbook``; ``unfused`` (the fast Chebyshev filter, BatchNorm and ReLU
    as separate modules: issue 6's step); ``fused_no_pool`` (fused, with
    block recycling off); ``fused_eager`` (fused, compilation off: the
    Laplacian by ``embedding_bag``, eager pooling); ``fused`` (the default:
    the C kernels of the Laplacian and the pooling). Plus the layout change as a compiled transpose
    (dropped in issue 18) against torch's eager one.
    """
    nside = 32 if quick else 64
    batch = 16
    ours = default_fcn(nside, device)
    models = {"textbook": textbook_copy(ours), "unfused": copy.deepcopy(ours),
              "fused_no_pool": copy.deepcopy(ours), "fused_eager": copy.deepcopy(ours),
              "fused": ours}
    for module in models["unfused"].modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            # Any hook makes DeepSphere call the modules one by one.
            module.register_forward_pre_hook(lambda module, args: None)
    settings = {"textbook": {"kernels": "reference"}, "fused_no_pool": {"pool_mb": 0},
                "fused_eager": {"compile": False}}
    x = torch.randn(batch, 1, 12 * nside**2, device=device)
    y = torch.arange(batch, device=device) % 2

    def step(name):
        model = models[name]
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def run():
            with skdeepsphere.config_context(**settings.get(name, {})):
                optimizer.zero_grad(set_to_none=True)
                torch.nn.functional.cross_entropy(model(x), y).backward()
                optimizer.step()
        return run

    seconds = compare({name: step(name) for name in models}, device, 3)
    figures = {f"step_seconds_{name}_nside{nside}": {
        "value": t, "unit": "s", "speedup_vs_textbook": seconds["textbook"] / t,
        "vs_unfused": seconds["unfused"] / t} for name, t in seconds.items()}
    if device.type == "cpu":
        source = torch.randn(batch * 16, 12 * nside**2)
        out = torch.empty(source.shape[::-1])
        compiled = torch.compile(_transpose_copy, dynamic=True)
        layout = compare({"eager": lambda: _transpose_copy(source, out),
                          "compiled": lambda: compiled(source, out)}, device, 10)
        figures[f"transpose_compiled_over_eager_nside{nside}"] = {
            "value": layout["compiled"] / layout["eager"], "unit": "time ratio (>1: eager wins)",
            "seconds_eager": layout["eager"], "shape": f"{tuple(source.shape)}"}
    return figures


def op_figures(device, quick):
    """The single-op measurements behind the changes of issue 18, interleaved.

    On one activation block of the default FCN's first layer (batch 16,
    16 channels, nside 64; quick: 32): BatchNorm statistics by torch's
    ``var_mean`` against two row sums; a fresh block (``clone``) against a
    copy into reused memory; and, on the second layer's shape, the weight
    gradient ``T^T G`` as one GEMM against a batched GEMM over 8 row chunks;
    and, on the default FCN head's shape at nside 64 (3072 rows, 64 input
    channels, 2 outputs), a narrow GEMM by a row-major against a
    column-major weight, and its weight gradient ``T^T G`` against
    ``(G^T T)^T``. Plus :func:`first_touch_seconds` (fresh pool blocks with
    and without huge pages).
    """
    from skdeepsphere.nn._kernels.chebyshev import _weight_gradient
    nside = 32 if quick else 64
    batch, channels, n_pixels = 16, 16, 12 * nside**2
    x = torch.randn(batch, channels, n_pixels, device=device)
    reused = torch.empty_like(x)
    seconds = compare({
        "var_mean": lambda: torch.var_mean(x, dim=(0, 2)),
        "row_sums": lambda: (x.sum(2).sum(0), torch.linalg.vector_norm(x, dim=2)),
        "fresh_block": lambda: x.clone(),
        "reused_block": lambda: reused.copy_(x)}, device, 10)
    rows = batch * n_pixels // 4
    term = torch.randn(rows, 16, device=device)
    grad = torch.randn(rows, 32, device=device)
    gemm = compare({"one_gemm": lambda: term.T @ grad,
                    "row_chunks": lambda: _weight_gradient(term, grad, rows, 16)}, device, 10)
    head_rows = batch * 12 * (nside // 16)**2
    head_term = torch.randn(head_rows, 64, device=device)
    head_grad = torch.randn(head_rows, 2, device=device)
    weight = torch.randn(64, 2, device=device)
    column_major = weight.T.contiguous().T
    out = torch.zeros(head_rows, 2, device=device)
    narrow = compare({
        "row_major": lambda: out.addmm_(head_term, weight),
        "column_major": lambda: out.addmm_(head_term, column_major),
        "gradient_plain": lambda: head_term.T @ head_grad,
        "gradient_transposed": lambda: (head_grad.T @ head_term).T}, device, 20)
    touch = first_touch_seconds(device)
    return {
        **touch,
        f"bn_statistics_var_mean_over_row_sums_nside{nside}": {
            "value": seconds["var_mean"] / seconds["row_sums"], "unit": "time ratio",
            "seconds_row_sums": seconds["row_sums"]},
        f"fresh_block_over_reused_nside{nside}": {
            "value": seconds["fresh_block"] / seconds["reused_block"], "unit": "time ratio",
            "seconds_reused": seconds["reused_block"], "MB": x.numel() * 4 / 2**20},
        f"weight_gradient_one_gemm_over_row_chunks_nside{nside}": {
            "value": gemm["one_gemm"] / gemm["row_chunks"], "unit": "time ratio",
            "seconds_row_chunks": gemm["row_chunks"], "shape": f"({rows}, 16)^T ({rows}, 32)"},
        f"narrow_gemm_row_major_over_column_major_nside{nside}": {
            "value": narrow["row_major"] / narrow["column_major"], "unit": "time ratio",
            "seconds_column_major": narrow["column_major"],
            "shape": f"({head_rows}, 64) (64, 2)"},
        f"narrow_weight_gradient_plain_over_transposed_nside{nside}": {
            "value": narrow["gradient_plain"] / narrow["gradient_transposed"],
            "unit": "time ratio", "seconds_transposed": narrow["gradient_transposed"],
            "shape": f"({head_rows}, 64)^T ({head_rows}, 2)"},
    }


def first_touch_seconds(device, megabytes=48, repeat=5):
    """First write of a fresh pool block, numpy's huge-page advice on or off.

    Each candidate allocates ``repeat`` fresh blocks of ``megabytes`` (the
    size of a first-layer activation at nside 64) through the pool's
    allocation, alternated, and fills each with ``torch.get_num_threads()``
    threads (as a kernel writes its output). Reports every time: the cost
    varies from block to block.
    """
    if device.type != "cpu":
        return {}
    from skdeepsphere.nn._kernels import memory
    numel = megabytes * 2**20 // 4
    times = {"huge_pages": [], "small_pages": []}
    for _ in range(repeat):
        for name, threshold in (("huge_pages", 0), ("small_pages", numel * 4 + 1)):
            previous = memory.HUGE_PAGE_MIN_BYTES
            memory.HUGE_PAGE_MIN_BYTES = threshold
            try:
                block = torch.from_numpy(memory._empty_array(numel, np.dtype(np.float32)))
            finally:
                memory.HUGE_PAGE_MIN_BYTES = previous
            start = time.perf_counter()
            block.fill_(1.0)
            times[name].append(time.perf_counter() - start)
            del block
    median = {name: float(np.median(t)) for name, t in times.items()}
    return {"first_touch_huge_over_small_pages": {
        "value": median["huge_pages"] / median["small_pages"], "unit": "ratio of medians",
        "seconds_huge_pages": times["huge_pages"], "seconds_small_pages": times["small_pages"],
        "MB": megabytes, "threads": torch.get_num_threads()}}


def _generated_gather(x, neighbours, weights, alpha, prev, beta, out):
    """The gather that torch.compile generated for the package until stop 22,
    kept here as a candidate: ``alpha L x - beta prev`` over ELL slots."""
    gather = torch.ops.aten._unsafe_index
    y = weights[:, 0:1] * gather(x, [neighbours[:, 0]])
    for slot in range(1, neighbours.shape[1]):
        y = y + weights[:, slot:slot + 1] * gather(x, [neighbours[:, slot]])
    out.copy_(alpha * y - beta * prev)
    return out


def gather_figures(device, quick):
    """One Chebyshev step ``2 L x - prev`` on the default FCN's blocks, three ways.

    The C kernel (:mod:`skdeepsphere.nn._kernels.native`, what
    ``compile="auto"`` and ``True`` use) against torch's ``embedding_bag``
    and a subtraction (``compile=False``, or no C compiler) and against the
    kernel that :func:`torch.compile` generates for the same sum (compiled
    once here, ``dynamic=True``, before the timings). The shapes are those
    of a training step (batch 16): each layer's (n_pixels, batch * C_in)
    block at nside 64 and 256 (quick: 32).
    """
    if device.type != "cpu":
        return {}
    generated = torch.compile(_generated_gather, dynamic=True)
    figures = {}
    for nside in ([32] if quick else [64, 256]):
        for level, channels in enumerate((1, 16, 32, 64)):
            level_nside = nside >> level
            operator = SparseLaplacian(healpix_laplacian(level_nside))
            width = 16 * channels
            x = torch.randn(operator.n_pixels, width)
            prev, out = torch.randn_like(x), torch.empty_like(x)
            scalars = torch.tensor([2.0, 1.0])

            def step(compile_mode):
                def run():
                    with skdeepsphere.config_context(compile=compile_mode):
                        laplacian_step(operator, x, 2.0, prev, 1.0, out=out)
                return run

            candidates = {"c_kernel": step("auto"), "embedding_bag": step(False),
                          "generated": lambda: generated(x, operator.neighbours,
                                                         operator.weights, scalars[0], prev,
                                                         scalars[1], out)}
            results = {}
            for name, function in candidates.items():
                function()
                results[name] = out.clone()
            for name, result in results.items():
                torch.testing.assert_close(result, results["embedding_bag"], rtol=1e-4,
                                           atol=1e-4, msg=name)
            seconds = compare(candidates, device, 5 if quick else 20)
            figures[f"gather_c_kernel_speedup_nside{level_nside}_width{width}"] = {
                "value": seconds["embedding_bag"] / seconds["c_kernel"], "unit": "x",
                "over": "embedding_bag + sub",
                "over_generated": seconds["generated"] / seconds["c_kernel"],
                "seconds_c_kernel": seconds["c_kernel"], "elements": x.numel()}
    return figures


def first_fit_child(nside, n_maps):
    """Run in a fresh subprocess: time the first fit, print JSON."""
    from skdeepsphere import SphericalCNNClassifier
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((n_maps, 12 * nside**2)).astype(np.float32)
    start = time.perf_counter()
    SphericalCNNClassifier(nside=nside, max_epochs=1, batch_size=16,
                           random_state=0).fit(maps, np.arange(n_maps) % 2)
    print(json.dumps({"seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()}))


def first_fit_figures(quick):
    """First fit in a fresh process, compile "auto" (which builds the C kernels
    there) against off; inductor's cache is cold too, as it was when the
    pooling kernels came from torch.compile (until stop 22)."""
    nside, n_maps = (32, 32) if quick else (64, 32)
    seconds = {}
    for mode in ("0", "auto", "0", "auto") if not quick else ("0", "auto"):
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "SKDEEPSPHERE_COMPILE": mode, "TORCHINDUCTOR_CACHE_DIR": cache,
                   "PYTHONPATH": str(ROOT)}
            result = subprocess.run([sys.executable, __file__, "--first-fit-child",
                                     str(nside), str(n_maps)],
                                    capture_output=True, text=True, env=env)
        if result.returncode != 0:
            raise RuntimeError(result.stderr[-2000:])
        seconds.setdefault(mode, []).append(
            json.loads(result.stdout.strip().splitlines()[-1])["seconds"])
    extra = min(seconds["auto"]) - min(seconds["0"])
    return {"first_fit_cold_cache_extra_seconds": {
        "value": extra, "unit": "s (compile auto - off, fresh process, cold cache)",
        "target": 2.0, "seconds_auto": seconds["auto"], "seconds_off": seconds["0"],
        "nside": nside, "n_maps": n_maps, "epochs": 1}}


def psd_figures(quick):
    try:
        from skdeepsphere.features import PowerSpectrumFeatures
    except ImportError as error:
        return {"psd_features_speedup_n_jobs2": {"value": f"skipped: {error}", "unit": ""}}
    nside, n_maps = (64, 16) if quick else (256, 32)
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((n_maps, hp.nside2npix(nside)))
    cpu = torch.device("cpu")
    repeat = 2 if quick else 3
    features = PowerSpectrumFeatures(nside=nside, n_jobs=2).fit(maps)
    ours = features.transform(maps)
    loop = np.stack([hp.anafast(m, lmax=3 * nside - 1, iter=0) for m in maps])
    np.testing.assert_allclose(ours, loop, rtol=1e-6, atol=1e-12 * np.abs(loop).max())
    t_ours = timeit(lambda: features.transform(maps), cpu, repeat)
    t_loop = timeit(lambda: [hp.anafast(m, lmax=3 * nside - 1, iter=0) for m in maps],
                    cpu, repeat)
    return {"psd_features_speedup_n_jobs2": {
        "value": t_loop / t_ours, "unit": "x", "seconds_ours": t_ours,
        "seconds_loop": t_loop, "nside": nside, "n_maps": n_maps}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, < 1 minute")
    parser.add_argument("--json", help="write the figures to this path")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--fit-child", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--step-nsides", type=lambda text: [int(v) for v in text.split(",")],
                        help="nsides of the training-step figures (default 32,64,256; "
                        "quick: 32)")
    parser.add_argument("--first-fit-child", nargs=2, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--only", help="comma-separated blocks: laplacian, chebconv, step, "
                        "changes, ops, gather, first_fit, fit, psd")
    args = parser.parse_args()
    if args.first_fit_child:
        first_fit_child(*args.first_fit_child)
        return
    if args.fit_child:
        nside, n_maps, batch_size, textbook = map(int, args.fit_child[:4])
        fit_child(nside, n_maps, batch_size, bool(textbook), args.fit_child[4])
        return
    device = torch.device(args.device)
    start = time.perf_counter()
    results = {"machine": {"value": platform.processor() or platform.machine(), "unit": "",
                           "device": str(device), "threads": torch.get_num_threads(),
                           "torch": torch.__version__, "quick": args.quick}}
    if device.type == "cuda":
        results["machine"]["gpu"] = torch.cuda.get_device_name(device)
    blocks = {"laplacian": lambda: laplacian_figures(device, args.quick),
              "chebconv": lambda: chebconv_figures(device, args.quick),
              "step": lambda: step_figures(device, args.quick, args.step_nsides),
              "changes": lambda: changes_figures(device, args.quick),
              "ops": lambda: op_figures(device, args.quick),
              "gather": lambda: gather_figures(device, args.quick),
              "first_fit": lambda: first_fit_figures(args.quick),
              "fit": lambda: fit_figures(device, args.quick),
              "psd": lambda: psd_figures(args.quick)}
    chosen = args.only.split(",") if args.only else list(blocks)
    if device.type != "cpu" and "first_fit" in chosen:
        chosen.remove("first_fit")  # about CPU compilation only
    for name in chosen:
        if name not in blocks:
            parser.error(f"unknown block {name!r}; choose from {', '.join(blocks)}")
        block_figures = blocks[name]()
        for key, figure in block_figures.items():
            results[key] = figure
            value = figure["value"]
            shown = f"{value:.3g}" if isinstance(value, float) else value
            figure = {k: ([round(v, 3) for v in f] if isinstance(f, list) else f)
                      for k, f in figure.items()}
            extras = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                               for k, v in figure.items() if k not in ("value", "unit"))
            print(f"{key}: {shown} {figure['unit']}  ({extras})", flush=True)
    results["total_seconds"] = {"value": time.perf_counter() - start, "unit": "s"}
    print(f"total_seconds: {results['total_seconds']['value']:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
