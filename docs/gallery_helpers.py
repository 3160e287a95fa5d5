"""Helpers of the sphinx-gallery configuration (see ``conf.py``).

They live in a module, and are named in ``conf.py`` by their qualified name,
so that sphinx can pickle its configuration.
"""

import os

# The gallery reads as a course, one section per subfolder of examples/:
# first the estimators at work, then what they are made of, then the papers'
# experiments, then model selection and scale. A new example goes into the
# subfolder of its section (a new section: a subfolder with a README.txt,
# listed here); within a section, EXAMPLE_ORDER comes first, then any other
# example by file name.
SECTION_ORDER = [
    "getting_started",
    "building_blocks",
    "paper_reproductions",
    "dense_outputs",
    "scaling_up",
]

EXAMPLE_ORDER = [
    # getting_started
    "plot_classify_full_sky.py",
    "plot_partial_sky_mask.py",
    "plot_fits_round_trip.py",
    # building_blocks
    "plot_spherical_convolution.py",
    "plot_laplacian_spectrum.py",
    "plot_knn_graphs.py",
    "plot_rotated_digits.py",
    # paper_reproductions
    "plot_partial_sky_noise.py",
    "plot_summary_statistics.py",
    "plot_2d_cnn_baseline.py",
    "plot_regression_multichannel.py",
    "plot_paper_table.py",
    # dense_outputs
    "plot_unet_point_sources.py",
    "plot_unet_denoising.py",
    # scaling_up
    "plot_grid_search.py",
]


class SectionOrder:
    """Sort key of the gallery's subsections: ``SECTION_ORDER``, then by name."""

    def __call__(self, directory):
        name = os.path.basename(os.path.normpath(directory))
        if name in SECTION_ORDER:
            return f"{SECTION_ORDER.index(name):03d}"
        return f"999{name}"

    def __repr__(self):
        return f"<{self.__class__.__name__}>"


# sphinx-gallery wants an instance for the subsections (a class for examples)
section_order = SectionOrder()


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


class TightScraper:
    """sphinx-gallery's matplotlib scraper, saving figures with a tight box.

    healpy places its maps with fixed margins, and text outside the axes
    (the unit under a colourbar, long tick labels) would be cut at the
    figure's edge; ``bbox_inches="tight"`` keeps it.
    """

    def __call__(self, block, block_vars, gallery_conf):
        from sphinx_gallery.scrapers import matplotlib_scraper

        return matplotlib_scraper(block, block_vars, gallery_conf, bbox_inches="tight")

    def __repr__(self):
        return f"<{self.__class__.__name__}>"


tight_scraper = TightScraper()


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
