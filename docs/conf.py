"""Sphinx configuration of the skdeepsphere documentation.

Build with ``make docs`` (``python -m sphinx -W --keep-going -b html docs
docs/_build/html``). Every ``examples/plot_*.py`` script is executed during
the build, so a broken example fails the build. Nothing is fetched from the
network: there is no intersphinx.
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

# -- autodoc / autosummary / numpydoc -----------------------------------------

autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
# numpydoc renders the class members itself; autosummary stubs for every
# method would only duplicate them.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_validation_checks = set()

# -- sphinx-gallery ------------------------------------------------------------


sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # execute every plot_*.py script
    "ignore_pattern": r"__init__\.py",
    "abort_on_example_error": True,
    "only_warn_on_example_error": False,
    "plot_gallery": "True",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "gallery_helpers.ExampleOrder",
    "reset_modules": ("matplotlib", "gallery_helpers.reset_seeds"),
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "doc_module": ("skdeepsphere",),
    "backreferences_dir": "gen_modules/backreferences",
    "show_memory": False,
    "min_reported_time": 0,
    "promote_jupyter_magic": False,
}

# -- matplotlib plot directive (figures of the user guide) -----------------------

plot_include_source = False
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 110)]
plot_rcparams = {}

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
html_sidebars = {"install": [], "user_guide": []}
html_css_files = ["custom.css"]
html_show_sourcelink = False


# -- hooks -------------------------------------------------------------------


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Hide scikit-learn's generated ``set_*_request`` methods.

    scikit-learn adds them to every estimator for metadata routing; their
    docstrings point into scikit-learn's own documentation, which is not
    linked here (no intersphinx).
    """
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
