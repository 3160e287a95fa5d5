"""Round-12 renames to scikit-learn spellings and unambiguous names (issue 19).

Run from anywhere: ``python tools/rename_round12.py``. It edits the package,
tests, docs, examples, benchmarks and README in place and is idempotent, so
that it can be run again after merging branches that still use the old
names. It prints what it changed and warns about targeted edits whose text
it did not find (already applied, or the text moved: check by hand).

Renames
-------
* ``n_neighbours`` -> ``n_neighbors`` (scikit-learn's spelling). The value
  ``graph="neighbours"`` stays: it names healpy's pixel neighbours
  (``healpy.get_all_neighbours``), not a count.
* the patch resolution ``order`` of ``healpix.patch_pixels``,
  ``datasets.extract_patches``, ``make_convergence_maps`` and
  ``make_convergence_regression`` -> ``patch_nside`` (healpy's ``order`` is
  log2(nside)); ``demo --order`` -> ``--patch-nside``.
* the eigenvalue bound ``lmax`` of ``skdeepsphere.graph`` ->
  ``max_eigenvalue``, ``estimate_lmax`` -> ``estimate_max_eigenvalue``
  (``lmax`` stays the largest multipole in features, rotation, synthesis).
* ``graph.equivariance_error`` -> ``graph.harmonic_equivariance_error``
  (computed in the basis of spherical harmonics, degree by degree, no map
  rotated) and ``rotation.rotation_equivariance_error`` ->
  ``rotation.empirical_equivariance_error`` (rotates test maps).
* The parameters of the CNN estimators are ordered by topic (geometry and
  graph, architecture, training, augmentation, checkpoints, execution) in
  the signature, ``_parameter_constraints``, ``__init__`` and the docstring.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP = {Path(__file__).resolve(), (ROOT / "docs" / "changelog.rst").resolve()}
SUFFIXES = {".py", ".rst", ".md", ".toml", ".cfg", ".txt"}
SKIP_DIRS = {".git", ".venv", "_build", "generated", "auto_examples", "build", "__pycache__"}

changed = {}
warnings = []


def files():
    for path in sorted(ROOT.rglob("*")):
        if (path.suffix in SUFFIXES and path.is_file() and path.resolve() not in SKIP
                and not SKIP_DIRS & set(path.relative_to(ROOT).parts)):
            yield path


def write(path, old, new):
    if new != old:
        path.write_text(new)
        changed[path.relative_to(ROOT).as_posix()] = True


def sub_everywhere(pattern, replacement):
    for path in files():
        text = path.read_text()
        write(path, text, re.sub(pattern, replacement, text))


def sub_in(relative, pattern, replacement, *, region=None):
    """Regex substitution in one file, optionally only inside ``region``
    (a regex whose first match delimits the text to edit)."""
    path = ROOT / relative
    if not path.exists():
        warnings.append(f"{relative}: missing")
        return
    text = path.read_text()
    if region is None:
        write(path, text, re.sub(pattern, replacement, text))
        return
    match = re.search(region, text, flags=re.S)
    if match is None:
        warnings.append(f"{relative}: region {region[:40]!r} not found")
        return
    start, stop = match.span()
    write(path, text, text[:start] + re.sub(pattern, replacement, text[start:stop]) + text[stop:])


def replace_in(relative, old, new):
    """Exact replacement of every occurrence; warns when neither old nor new is there."""
    path = ROOT / relative
    if not path.exists():
        warnings.append(f"{relative}: missing")
        return
    text = path.read_text()
    if old not in text:
        if new not in text:
            warnings.append(f"{relative}: {old[:60]!r} not found")
        return
    write(path, text, text.replace(old, new))


# -- n_neighbours -> n_neighbors ---------------------------------------------
sub_everywhere(r"(?<![A-Za-z0-9])n_neighbours\b", "n_neighbors")  # also model__n_neighbours
sub_everywhere(r"--n-neighbours\b", "--n-neighbors")

# -- the two equivariance measures -------------------------------------------
# (\b does not match inside rotation_equivariance_error or test names)
sub_everywhere(r"\bequivariance_error\b", "harmonic_equivariance_error")
sub_everywhere(r"\brotation_equivariance_error\b", "empirical_equivariance_error")

# -- eigenvalue bound: lmax -> max_eigenvalue in graph.py ----------------------
sub_everywhere(r"\bestimate_lmax\b", "estimate_max_eigenvalue")
sub_in("skdeepsphere/graph.py", r"\blmax\b(?!=ell)", "max_eigenvalue")
sub_in("tests/test_graph.py", r"\blmax\b", "max_eigenvalue")
sub_in("benchmarks/knn_graph.py", r"--lmax\b", "--max-eigenvalue")
sub_in("benchmarks/knn_graph.py", r"\blmax\b", "max_eigenvalue")
replace_in("benchmarks/knn_graph.py", "{'max_eigenvalue':>8}", "{'max_eigenvalue':>14}")
replace_in("benchmarks/knn_graph.py", "{max_eigenvalue:>8}", "{max_eigenvalue:>14}")
sub_in("examples/plot_spherical_convolution.py", r"\blmax\b", "max_eigenvalue")
replace_in("benchmarks/README.md", "[--lmax estimate 2]", "[--max-eigenvalue estimate 2]")
replace_in("benchmarks/README.md", "full build, lmax = 2", "full build, max_eigenvalue = 2")
replace_in("benchmarks/README.md", "With the lmax estimate", "With the max_eigenvalue estimate")
replace_in("benchmarks/README.md", "with lmax = 2", "with max_eigenvalue = 2")

# -- patch resolution: order -> patch_nside -----------------------------------
# A whole word "order", not "higher-order", "--order", "order_in", nor the
# ordering of pixels ("nested order", "random order", "that order").
WORD = r"(?<![-\w])order(?![-\w])"
KEEP = r"(?<!nested )(?<!random )(?<!that )(?<!RING )(?<!NESTED )"
sub_everywhere(r"\bcheck_order\b", "check_patch_nside")
sub_in("skdeepsphere/healpix.py", KEEP + WORD, "patch_nside",
       region=(r"(?:@validate_params\((?:(?!\ndef ).)*?\n)?def patch_pixels\("
               r".*?(?=\n(?:def |class |@)|\Z)"))
sub_in("skdeepsphere/datasets/_patches.py", KEEP + WORD, "patch_nside")
sub_in("skdeepsphere/datasets/_convergence.py", KEEP + WORD, "patch_nside")
replace_in("skdeepsphere/demo.py", '"--order"', '"--patch-nside"')
replace_in("skdeepsphere/demo.py", "patches are the 12 order^2 nested pixels at this order",
           "patches are the 12 patch_nside^2 nested pixels of this resolution")
replace_in("skdeepsphere/demo.py", "(each gives 12 order^2 patches)",
           "(each gives 12 patch_nside^2 patches)")
sub_in("skdeepsphere/demo.py", r"\bargs\.order\b", "args.patch_nside")
sub_in("skdeepsphere/demo.py", r"\border=", "patch_nside=")
replace_in("skdeepsphere/demo.py", "pixels (nside={args.nside}, order \"",
           "pixels (nside={args.nside}, patch_nside \"")
replace_in("tests/test_demo.py", '"--order"', '"--patch-nside"')
for relative in ["README.md", "tests/test_datasets.py", "tests/test_validation.py",
                 "tests/test_estimators.py", "tests/test_features.py", "docs/user_guide.rst",
                 "benchmarks/run.py", "benchmarks/table.py", "benchmarks/textbook.py",
                 "examples/plot_partial_sky_noise.py", "examples/plot_grid_search.py"]:
    if (ROOT / relative).exists():
        sub_in(relative, r"(?<![\w.])order=(?!\")", "patch_nside=")
sub_in("tests/test_datasets.py", r'"order":', '"patch_nside":')
sub_in("tests/test_datasets.py", r"'order' \.\*", "'patch_nside' .*")
sub_in("tests/test_datasets.py", r'r"order must be', 'r"patch_nside must be')
sub_in("tests/test_datasets.py", r"\border=(\d+) must", r"patch_nside=\1 must")
sub_in("tests/test_datasets.py", r'match="order', 'match="patch_nside')
sub_in("tests/test_validation.py", r'r"order\.\*power of 2', 'r"patch_nside.*power of 2')
sub_in("tests/test_validation.py", r"patches: order not a power of two",
       "patches: patch_nside not a power of two")
for old, new in [("nside, order, n_maps", "nside, patch_nside, n_maps"),
                 ("patch_nside=order", "patch_nside=patch_nside"),
                 ("at nside=order", "at nside=patch_nside"),
                 ("hp.boundaries(order,", "hp.boundaries(patch_nside,"),
                 ("hp.pix2ang(order,", "hp.pix2ang(patch_nside,"),
                 ("all patches of an order have", "all patches of one patch_nside have"),
                 ('f"Patches of order {order}',
                  'f"Patches at patch_nside={patch_nside}')]:
    replace_in("examples/plot_partial_sky_noise.py", old, new)
for old, new in [("``12 order²``", "``12 patch_nside²``"),
                 ("at resolution ``order`` (1, 2 or 4",
                  "at resolution ``patch_nside`` (1, 2 or 4"),
                 ("The NESTED patches of order 1 (12 patches) and order 2",
                  "The NESTED patches of patch_nside 1 (12 patches) and patch_nside 2"),
                 ("for i, order in enumerate([1, 2]):", "for i, patch_nside in enumerate([1, 2]):"),
                 ("patch_pixels(nside, order)", "patch_pixels(nside, patch_nside)"),
                 ('title=f"order {order}:', 'title=f"patch_nside {patch_nside}:')]:
    replace_in("docs/user_guide.rst", old, new)

# -- lines the renames made longer than 100 characters -----------------------
replace_in("skdeepsphere/demo.py",
           "make_convergence_maps(args.n_maps, args.nside, patch_nside=args.patch_nside,\n"
           "                                               random_state=args.seed)",
           "make_convergence_maps(\n        args.n_maps, args.nside, patch_nside=args.patch_nside,"
           " random_state=args.seed)")
replace_in("skdeepsphere/graph.py",
           ">>> from skdeepsphere.graph import healpix_weights, normalized_laplacian, "
           "estimate_max_eigenvalue",
           ">>> from skdeepsphere.graph import (healpix_weights, normalized_laplacian,\n"
           "    ...                                 estimate_max_eigenvalue)")
replace_in("skdeepsphere/graph.py",
           '    diagonal = sparse.identity(n, dtype=np.float32, format="csr") * '
           "np.float32(2.0 / max_eigenvalue - 1)",
           "    diagonal = (sparse.identity(n, dtype=np.float32, format=\"csr\")\n"
           "                * np.float32(2.0 / max_eigenvalue - 1))")
replace_in("skdeepsphere/graph.py",
           ">>> from skdeepsphere.graph import harmonic_equivariance_error, healpix_weights, "
           "normalized_laplacian",
           ">>> from skdeepsphere.graph import (harmonic_equivariance_error, healpix_weights,\n"
           "    ...                                 normalized_laplacian)")

# -- estimator parameters grouped by topic ------------------------------------
TOPICS = [
    # geometry and graph
    "nside", "pixels", "nest", "graph", "n_neighbors", "kernel_width",
    # architecture
    "architecture", "channels", "cheb_order", "pooling", "n_poolings", "statistics",
    "batch_norm", "dropout",
    # training
    "max_epochs", "batch_size", "lr", "lr_decay", "weight_decay", "early_stopping",
    "validation_fraction", "n_iter_no_change", "callbacks",
    # augmentation
    "augment_noise", "augment_rotation",
    # checkpoints
    "checkpoint", "resume",
    # execution
    "device", "random_state", "verbose",
]


def by_topic(items, name_of):
    """Items sorted by TOPICS; unknown names keep their order at the end."""
    known = [item for item in items if name_of(item) in TOPICS]
    unknown = [item for item in items if name_of(item) not in TOPICS]
    return sorted(known, key=lambda item: TOPICS.index(name_of(item))) + unknown


def reorder_block(text, pattern, item_pattern):
    """Reorder the lines matched by ``item_pattern`` (one item per line)
    inside the first match of ``pattern``."""
    match = re.search(pattern, text, flags=re.S)
    if match is None:
        warnings.append(f"estimators.py: block {pattern[:40]!r} not found")
        return text
    block = match.group(0)
    lines = block.split("\n")
    index = [i for i, line in enumerate(lines) if re.match(item_pattern, line)]
    items = [lines[i] for i in index]
    ordered = by_topic(items, lambda line: re.match(item_pattern, line).group(1))
    for i, line in zip(index, ordered):
        lines[i] = line
    return text[:match.start()] + "\n".join(lines) + text[match.end():]


def reorder_parameters_doc(text):
    """Reorder the entries of the shared Parameters docstring."""
    match = re.search(r'_PARAMETERS_DOC = """\n    Parameters\n    ----------\n(.*?)"""',
                      text, flags=re.S)
    if match is None:
        warnings.append("estimators.py: _PARAMETERS_DOC not found")
        return text
    body = match.group(1)
    entries = re.split(r"\n(?=    \w[\w, ]* :)", body.rstrip("\n"))
    ordered = by_topic(entries, lambda entry: entry.split(" :")[0].strip())
    new_body = "\n".join(ordered) + "\n"
    return text[:match.start(1)] + new_body + text[match.end(1):]


path = ROOT / "skdeepsphere" / "estimators.py"
text = path.read_text()
new = reorder_block(text, r"    _parameter_constraints = \{\n.*?\n    \}",
                    r'        "(\w+)": ')
new = reorder_block(new, r"    def __init__\(\n        self,\n        \*,\n.*?\n    \):",
                    r"        (\w+)=")
new = reorder_block(new, r"    \):\n(        self\.\w+ = \w+\n)+", r"        self\.(\w+) = \1$")
new = reorder_parameters_doc(new)
write(path, text, new)

print("changed:", *sorted(changed), sep="\n  ")
for warning in warnings:
    print("warning:", warning, file=sys.stderr)
