"""Sphinx configuration of the skdeepsphere documentation.

Build with ``make docs`` (``python -m sphinx -n -W --keep-going -b html docs
docs/_build/html``). Every ``examples/**/plot_*.py`` script is executed during
the build, so a broken example fails the build; to iterate on a few, set
``SKDEEPSPHERE_GALLERY_PATTERN`` to a regular expression matched against the
example paths (e.g. ``SKDEEPSPHERE_GALLERY_PATTERN=classify``): the others are
rendered without being run.

Nothing is fetched from the network, neither while building nor while
reading the pages: the intersphinx inventories of the projects we link to
are files in ``docs/_inventories`` (see its README), and MathJax is served
from ``_static/mathjax``.
"""

import os
import sys
from pathlib import Path

# The examples call healpy's spherical harmonic transforms thousands of times
# on small maps. Their OpenMP threads spin-wait for each other, and whenever
# the cores are busy (torch's own thread pool in the same process, other
# jobs on the machine) each call was measured up to 80x slower than on one
# thread. One OpenMP thread (set before healpy and torch are loaded) avoids
# that; gallery_helpers.reset_seeds also pins torch to one thread.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import matplotlib

matplotlib.use("Agg")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the package, also when not installed
sys.path.insert(0, str(HERE))  # gallery_helpers

import skdeepsphere  # noqa: E402

# -- Project -----------------------------------------------------------------

project = "skdeepsphere"
author = "skdeepsphere developers"
copyright = "2025, skdeepsphere developers"
release = skdeepsphere.__version__
version = ".".join(release.split(".")[:2])

# -- Extensions --------------------------------------------------------------

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "matplotlib.sphinxext.plot_directive",
]

templates_path = ["_templates"]
html_static_path = ["_static"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints",
                    "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.json"]
root_doc = "index"
default_role = "literal"
# -n by default: a reference that resolves nowhere is a warning, and -W makes
# it an error.
nitpicky = True
# Names in docstrings that are descriptions, not objects to link to.
nitpick_ignore = [
    ("py:class", "array-like"),
    ("py:class", "optional"),
]

# -- intersphinx (offline) ------------------------------------------------------

INVENTORIES = HERE / "_inventories"
intersphinx_mapping = {
    name: (url, str(INVENTORIES / f"{name}.inv"))
    for name, url in {
        "python": "https://docs.python.org/3/",
        "numpy": "https://numpy.org/doc/stable/",
        "scipy": "https://docs.scipy.org/doc/scipy/",
        "sklearn": "https://scikit-learn.org/stable/",
        "torch": "https://docs.pytorch.org/docs/stable/",
        "healpy": "https://healpy.readthedocs.io/en/latest/",
        "skorch": "https://skorch.readthedocs.io/en/stable/",
        "matplotlib": "https://matplotlib.org/stable/",
        "joblib": "https://joblib.readthedocs.io/en/stable/",
        "pandas": "https://pandas.pydata.org/docs/",
        "h5py": "https://docs.h5py.org/en/stable/",
        # the same site; intersphinx wants distinct addresses
        "sklearn_recent": "https://scikit-learn.org/stable",
    }.items()
}

# -- MathJax (offline) ------------------------------------------------------------

# MathJax 3 (``npm pack mathjax@3``: es5/tex-chtml.js and its woff-v2 fonts,
# Apache-2.0), copied to the built site like any static file.
mathjax_path = "mathjax/tex-chtml.js"

# -- autodoc / autosummary / numpydoc -----------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
# numpydoc renders the class members itself; autosummary stubs for every
# method would only duplicate them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- sphinx-gallery ------------------------------------------------------------


# The gallery has one subsection per subfolder of examples/ (each with its
# README.txt), in the order of gallery_helpers.SECTION_ORDER.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    # execute every plot_*.py script, or those matching the variable
    "filename_pattern": os.environ.get("SKDEEPSPHERE_GALLERY_PATTERN", r"/plot_"),
    "subsection_order": "gallery_helpers.section_order",
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "gallery_helpers.ExampleOrder",
    "reset_modules": ("matplotlib", "gallery_helpers.reset_seeds"),
    "matplotlib_animations": False,
    "image_scrapers": ("gallery_helpers.tight_scraper",),
    "doc_module": ("skdeepsphere",),
    "backreferences_dir": "gen_modules/backreferences",
    "show_memory": False,
    # Show no return value of a block's last line (a Legend, [Text(...)]):
    # the examples print what they mean to show; the cells that display a
    # table ask for it with ``# sphinx_gallery_capture_repr_block``.
    "capture_repr": (),
    # 2x figures for high-resolution screens; thumbnails are drawn at
    # 800 x 560 pixels, several times the size the gallery shows them at
    "image_srcset": ["2x"],
    "thumbnail_size": (800, 560),
    # the execution-time pages load their table scripts from a CDN
    "write_computation_times": False,
    "min_reported_time": 0,
    "promote_jupyter_magic": False,
}

# -- matplotlib plot directive (figures of the user guide) -----------------------

plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
# keep text outside the axes (a colourbar's unit under a healpy map)
plot_apply_rcparams = True
plot_rcparams = {"savefig.bbox": "tight"}

# -- HTML --------------------------------------------------------------------

html_theme = "pydata_sphinx_theme"
html_title = f"skdeepsphere {release}"
html_theme_options = {
    "navbar_end": ["theme-switcher", "navbar-icon-links"],
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
}
html_sidebars = {page: [] for page in ["install", "quickstart", "user_guide", "faq",
                                         "citation", "changelog"]}
html_css_files = ["custom.css"]
html_show_sourcelink = False


# -- hooks -------------------------------------------------------------------


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Hide scikit-learn's metadata-routing methods.

    scikit-learn adds ``set_*_request`` and ``get_metadata_routing`` to
    every estimator for metadata routing, which the estimators here do not
    use. The other inherited methods (``get_params``, ``score``, ...) are
    documented on each class page.
    """
    if name == "get_metadata_routing" or (name.startswith("set_")
                                          and name.endswith("_request")):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
