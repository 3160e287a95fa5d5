"""Ours against deepsphere-pytorch's own layers, on the same graph and weights.

Usage::

    git clone https://github.com/deepsphere/deepsphere-pytorch /tmp/deepsphere-pytorch
    python benchmarks/vs_deepsphere_pytorch.py /tmp/deepsphere-pytorch [--nsides 32,64]

An independent check of ``benchmarks/run.py``'s ratios, whose "textbook"
network is our own rewrite of the reference implementation: here the
reference is deepsphere-pytorch's code itself, loaded from a checkout (its
``deepsphere/layers/chebyshev.py``, ``layers/samplings/healpix_pool_unpool.py``
and ``models/spherical_unet/utils.py``, by file path, so that the package's
other dependencies are not needed; nothing of it is copied here). For each
nside it prints

- ``layer``: one Chebyshev convolution (16 -> 32 channels, K = 5, batch 16),
  forward and backward: deepsphere-pytorch's ``ChebConv`` with a
  ``torch.sparse`` COO Laplacian against :class:`skdeepsphere.nn.ChebConv`;
- ``step``: one training step (cross-entropy, backward, Adam) of the same
  network built from each library's blocks: 3 x [ChebConv -> BatchNorm ->
  ReLU -> max-pool by 4 nested pixels] with 16, 32, 64 channels, then a
  Chebyshev convolution to 2 maps averaged over pixels
  (:class:`skdeepsphere.nn.DeepSphere` with ``channels=(16, 32, 64)``, and
  deepsphere-pytorch's ``SphericalChebBN``, ``SphericalChebBNPool``,
  ``HealpixMaxPool`` and ``SphericalChebConv``);
- ``predict``: that network in evaluation mode without autograd.

Both compute the same function (the weights are copied; the largest output
difference is printed) on the same rescaled HEALPix Laplacian of
:func:`skdeepsphere.graph.laplacian_hierarchy`. Times are minima of
round-robin repetitions; ours runs with ``compile=True`` (the steady state
of a fit), deepsphere-pytorch as it is.
"""

import argparse
import importlib.util
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

import numpy as np  # noqa: E402
import torch  # noqa: E402

import skdeepsphere  # noqa: E402
from run import compare  # noqa: E402
from skdeepsphere.graph import laplacian_hierarchy  # noqa: E402
from skdeepsphere.nn import ChebConv, DeepSphere  # noqa: E402

CHANNELS = (16, 32, 64)
CHEB_ORDER = 5
BATCH = 16
CPU = torch.device("cpu")


def load_reference(repo):
    """deepsphere-pytorch's layer modules, from files of the checkout ``repo``.

    The package's ``__init__`` files import its data and training code
    (and their dependencies); empty package modules stand in for them so
    that ``from deepsphere.layers.chebyshev import ...`` inside the loaded
    files resolves to the files loaded here.
    """
    repo = Path(repo)
    for package in ("deepsphere", "deepsphere.layers", "deepsphere.layers.samplings",
                    "deepsphere.models", "deepsphere.models.spherical_unet"):
        module = types.ModuleType(package)
        module.__path__ = [str(repo / package.replace(".", "/"))]
        sys.modules[package] = module
    modules = {}
    for name in ("deepsphere.layers.chebyshev",
                 "deepsphere.layers.samplings.healpix_pool_unpool",
                 "deepsphere.models.spherical_unet.utils"):
        path = repo / (name.replace(".", "/") + ".py")
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: is {repo} a deepsphere-pytorch checkout?")
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        modules[name.rsplit(".", 1)[-1]] = module
    return modules


def sparse_coo(laplacian):
    """The scipy Laplacian as the coalesced torch COO tensor deepsphere-pytorch uses."""
    coo = laplacian.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    values = torch.from_numpy(coo.data.astype(np.float32))
    return torch.sparse_coo_tensor(indices, values, coo.shape).coalesce()


def reference_weight(weight):
    """Our (K, C_in, C_out) weight in deepsphere-pytorch's layout.

    Its ``cheb_conv`` multiplies features ordered (C_in, K) by
    ``weight.view(C_in * K, C_out)``: row ``i * K + k`` of that view must
    hold our ``weight[k, i]``.
    """
    cheb_order, channels, out_channels = weight.shape
    return weight.detach().permute(1, 0, 2).reshape(cheb_order, channels, out_channels)


def copy_conv(ours, theirs):
    with torch.no_grad():
        theirs.weight.copy_(reference_weight(ours.weight))
        theirs.bias.copy_(ours.bias)


class ReferenceNetwork(torch.nn.Module):
    """The network of :func:`networks` from deepsphere-pytorch's blocks,
    on (batch, pixels, channels) tensors as that library expects."""

    def __init__(self, modules, laplacians):
        super().__init__()
        utils = modules["utils"]
        pool = modules["healpix_pool_unpool"].HealpixMaxPool
        cheb = modules["chebyshev"]
        self.blocks = torch.nn.ModuleList([
            utils.SphericalChebBN(1, CHANNELS[0], laplacians[0], CHEB_ORDER),
            utils.SphericalChebBNPool(CHANNELS[0], CHANNELS[1], laplacians[1], pool(),
                                      CHEB_ORDER),
            utils.SphericalChebBNPool(CHANNELS[1], CHANNELS[2], laplacians[2], pool(),
                                      CHEB_ORDER)])
        self.last_pool = pool()
        self.head = cheb.SphericalChebConv(CHANNELS[2], 2, laplacians[3], CHEB_ORDER)

    def forward(self, x):
        x = x.permute(0, 2, 1)
        for block in self.blocks:
            x = block(x)
        return self.head(self.last_pool(x)).mean(1)


def networks(laplacians, parents, modules):
    """Ours and deepsphere-pytorch's network with the same weights."""
    torch.manual_seed(0)
    ours = DeepSphere(laplacians, parents, 1, 2, channels=CHANNELS, cheb_order=CHEB_ORDER)
    theirs = ReferenceNetwork(modules, [sparse_coo(lap) for lap in laplacians])
    our_convs = [block[0] for block in ours.blocks] + [ours.head[0]]
    our_norms = [block[1] for block in ours.blocks]
    their_convs = [block.spherical_cheb.chebconv for block in theirs.blocks[:1]] + [
        block.spherical_cheb_bn.spherical_cheb.chebconv for block in theirs.blocks[1:]] + [
        theirs.head.chebconv]
    their_norms = [theirs.blocks[0].batchnorm] + [
        block.spherical_cheb_bn.batchnorm for block in theirs.blocks[1:]]
    for mine, reference in zip(our_convs, their_convs):
        copy_conv(mine, reference)
    for mine, reference in zip(our_norms, their_norms):
        reference.load_state_dict(mine.state_dict())
    return ours, theirs


def largest_difference(a, b):
    return float((a - b).abs().max() / b.abs().max())


def layer_line(nside, modules, laplacian, repeat):
    torch.manual_seed(1)
    ours = ChebConv(CHANNELS[0], 2 * CHANNELS[0], laplacian, CHEB_ORDER)
    theirs = modules["chebyshev"].ChebConv(CHANNELS[0], 2 * CHANNELS[0], CHEB_ORDER)
    copy_conv(ours, theirs)
    matrix = sparse_coo(laplacian)
    x = torch.randn(BATCH, CHANNELS[0], laplacian.shape[0], requires_grad=True)
    x_theirs = x.detach().permute(0, 2, 1).contiguous().requires_grad_()
    difference = largest_difference(ours(x).detach(),
                                    theirs(matrix, x_theirs).detach().permute(0, 2, 1))

    def run_ours():
        ours(x).sum().backward()

    def run_theirs():
        theirs(matrix, x_theirs).sum().backward()

    return _line("layer", nside, compare({"theirs": run_theirs, "ours": run_ours}, CPU,
                                         repeat), difference)


def _line(what, nside, seconds, difference):
    ratio = seconds["theirs"] / seconds["ours"]
    return (f"{what} nside {nside}: deepsphere-pytorch {seconds['theirs']:.4f} s, "
            f"skdeepsphere {seconds['ours']:.4f} s, ratio {ratio:.2f}"
            f" (largest output difference {difference:.1e} of the largest output)")


def network_lines(nside, laplacians, parents, modules, repeat):
    ours, theirs = networks(laplacians, parents, modules)
    x = torch.randn(BATCH, 1, laplacians[0].shape[0])
    y = torch.arange(BATCH) % 2
    ours.eval()
    theirs.eval()
    lines = []
    with torch.no_grad():
        difference = largest_difference(ours(x), theirs(x))
        lines.append(_line("predict", nside, compare(
            {"theirs": lambda: theirs(x), "ours": lambda: ours(x)}, CPU, 2 * repeat),
            difference))
    ours.train()
    theirs.train()
    difference = largest_difference(ours(x).detach(), theirs(x).detach())
    optimizers = {"ours": torch.optim.Adam(ours.parameters()),
                  "theirs": torch.optim.Adam(theirs.parameters())}

    def step(model, name):
        def run():
            optimizers[name].zero_grad(set_to_none=True)
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizers[name].step()
        return run

    lines.append(_line("step", nside, compare(
        {"theirs": step(theirs, "theirs"), "ours": step(ours, "ours")}, CPU, repeat),
        difference))
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("repo", help="a checkout of deepsphere-pytorch")
    parser.add_argument("--nsides", type=lambda text: [int(v) for v in text.split(",")],
                        default=[32, 64])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    modules = load_reference(args.repo)
    skdeepsphere.set_config(compile=True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for nside in args.nsides:
        # One hierarchy per nside serves the layer and both networks.
        laplacians, _, parents = laplacian_hierarchy(nside, None, 3)
        print(layer_line(nside, modules, laplacians[0], args.repeat), flush=True)
        for line in network_lines(nside, laplacians, parents, modules, args.repeat):
            print(line, flush=True)


if __name__ == "__main__":
    main()
