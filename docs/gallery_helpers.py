"""Helpers of the sphinx-gallery configuration (see ``conf.py``).

They live in a module, and are named in ``conf.py`` by their qualified name,
so that sphinx can pickle its configuration.
"""

import os

# The gallery reads as a course: the easiest example first, then the
# building blocks, then the paper's experiment and model selection.
EXAMPLE_ORDER = [
    "plot_classify_full_sky.py",
    "plot_spherical_convolution.py",
    "plot_laplacian_spectrum.py",
    "plot_knn_graphs.py",
    "plot_regression_multichannel.py",
    "plot_partial_sky_noise.py",
    "plot_unet_point_sources.py",
    "plot_unet_denoising.py",
    "plot_grid_search.py",
]


class ExampleOrder:
    """Sort key of the examples: ``EXAMPLE_ORDER``, then any other by name."""

    def __init__(self, src_dir):
        self.src_dir = src_dir

    def __call__(self, filename):
        name = os.path.basename(filename)
        if name in EXAMPLE_ORDER:
            return f"{EXAMPLE_ORDER.index(name):03d}"
        return f"999{name}"

    def __repr__(self):
        return f"<{self.__class__.__name__}>"


def reset_seeds(gallery_conf, fname):
    """Seed numpy and torch and use one torch thread before every example."""
    import numpy as np

    np.random.seed(0)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency
        return
    torch.manual_seed(0)
    # One thread, like healpy (see conf.py): the examples' tensors are small,
    # and on a busy machine spinning OpenMP threads made them 5x slower.
    torch.set_num_threads(1)
