"""Training step or prediction of the default FCN, ours against textbook, for one source tree.

Usage::

    python benchmarks/compare_trees.py step|predict TREE [--nside 64] [--repeat 7] [--pooling max]

Imports ``skdeepsphere`` (and ``benchmarks/run.py``) from ``TREE``, e.g. a
``git worktree`` of an older commit, so that two commits can be compared by
alternating calls in separate processes. Builds ``run.default_fcn`` and its
``textbook_copy`` with compilation on (``compile=True``, waited for), times
``step`` (zero_grad, forward, cross-entropy, backward, Adam; batch 16) or
``predict`` (eval mode, no autograd, batch 16) round-robin against the
textbook network, and prints the minima and their ratio. For the first
line of a tree the source path is printed too. ``--pooling avg`` switches
every pooling of the network (and of its textbook copy) to the mean.
"""

import argparse
import sys
import time


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["step", "predict"])
    parser.add_argument("tree")
    parser.add_argument("--nside", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--pooling", choices=["max", "avg"], default="max")
    args = parser.parse_args()
    sys.path[:0] = [args.tree + "/benchmarks", args.tree]
    import torch
    import skdeepsphere
    from run import default_fcn, textbook_copy
    skdeepsphere.set_config(compile=True)
    from skdeepsphere.nn import HealpixPool
    ours = default_fcn(args.nside, "cpu")
    for module in ours.modules():
        if isinstance(module, HealpixPool):
            module.mode = args.pooling
    textbook = textbook_copy(ours)
    x = torch.randn(16, 1, 12 * args.nside**2)
    y = torch.arange(16) % 2

    def step(model, optimizer, kernels):
        with skdeepsphere.config_context(kernels=kernels):
            optimizer.zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()

    def predict(model, kernels):
        with skdeepsphere.config_context(kernels=kernels), torch.no_grad():
            model(x)

    if args.what == "step":
        adam, adam_textbook = (torch.optim.Adam(ours.parameters()),
                               torch.optim.Adam(textbook.parameters()))
        candidates = (lambda: step(ours, adam, "fast"),
                      lambda: step(textbook, adam_textbook, "reference"))
    else:
        ours.eval()
        textbook.eval()
        candidates = lambda: predict(ours, "fast"), lambda: predict(textbook, "reference")
    for _ in range(3):
        candidates[0]()
    candidates[1]()
    times = [[], []]
    for _ in range(args.repeat):
        for index, candidate in enumerate(candidates):
            start = time.perf_counter()
            candidate()
            times[index].append(time.perf_counter() - start)
    seconds_ours, seconds_textbook = min(times[0]), min(times[1])
    print(f"{skdeepsphere.__file__}: {args.what} nside {args.nside} pooling {args.pooling} "
          f"ours {seconds_ours:.4f} "
          f"textbook {seconds_textbook:.4f} ratio {seconds_textbook / seconds_ours:.2f}")


if __name__ == "__main__":
    main()
