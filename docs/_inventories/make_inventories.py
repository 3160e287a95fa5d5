"""Write the small intersphinx inventories of ``docs/_inventories``.

The documentation is built offline (a cluster node, a CI runner without
network), so intersphinx reads inventories from files. ``python.inv``,
``scipy.inv`` and ``sklearn.inv`` are the ``objects.inv`` of the Debian
packages python3-doc, python-scipy-doc and python-sklearn-doc
(``/usr/share/doc/*/html/objects.inv``). The other projects ship no
offline documentation; for them this script writes an inventory with just
the objects our pages link to, each with its address in the project's
online documentation (the base addresses are in ``conf.py``). Add a line
below when a page links to a new object, then run
``python docs/_inventories/make_inventories.py``.
"""

import zlib
from pathlib import Path

# project -> (version, [(name, domain:role, relative address)]);
# "$" in an address stands for the name.
TARGETS = {
    "numpy": ("2.3", [
        ("numpy.memmap", "py:class", "reference/generated/$.html#$"),
        ("numpy.ndarray", "py:class", "reference/generated/$.html#$"),
        ("numpy.random.RandomState", "py:class", "reference/random/legacy.html#$"),
        ("numpy.random.Generator", "py:class", "reference/random/generator.html#$"),
        ("numpy.dtype", "py:class", "reference/generated/$.html#$"),
        ("numpy.histogram", "py:function", "reference/generated/$.html#$"),
        ("numpy.histogram_bin_edges", "py:function", "reference/generated/$.html#$"),
        ("numpy.quantile", "py:function", "reference/generated/$.html#$"),
        ("numpy.float32", "py:attribute", "reference/arrays.scalars.html#$"),
    ]),
    "torch": ("2.13", [
        ("torch.nn.Module", "py:class", "generated/$.html#$"),
        ("torch.nn.BatchNorm1d", "py:class", "generated/$.html#$"),
        ("torch.nn.SyncBatchNorm", "py:class", "generated/$.html#$"),
        ("torch.Tensor", "py:class", "tensors.html#$"),
        ("torch.device", "py:class", "tensor_attributes.html#$"),
        ("torch.dtype", "py:class", "tensor_attributes.html#$"),
        ("torch.compile", "py:function", "generated/$.html#$"),
        ("torch.load", "py:function", "generated/$.html#$"),
        ("torch.set_num_threads", "py:function", "generated/$.html#$"),
        ("torch.utils.data.Dataset", "py:class", "data.html#$"),
        ("torch.sparse", "std:doc", "sparse.html"),
    ]),
    "healpy": ("1.18", [
        ("healpy", "py:module", "index.html"),
        ("healpy.read_map", "py:function", "generated/$.html#$"),
        ("healpy.write_map", "py:function", "generated/$.html#$"),
        ("healpy.mollview", "py:function", "generated/$.html#$"),
        ("healpy.gnomview", "py:function", "generated/$.html#$"),
        ("healpy.map2alm", "py:function", "generated/$.html#$"),
        ("healpy.anafast", "py:function", "generated/$.html#$"),
        ("healpy.alm2map", "py:function", "generated/$.html#$"),
        ("healpy.almxfl", "py:function", "generated/$.html#$"),
        ("healpy.alm2map_der1", "py:function", "generated/$.html#$"),
        ("healpy.alm2map_spin", "py:function", "generated/$.html#$"),
        ("healpy.nside2resol", "py:function", "generated/$.html#$"),
        ("healpy.smoothing", "py:function", "generated/$.html#$"),
        ("healpy.get_all_neighbours", "py:function", "generated/$.html#$"),
        ("healpy.synfast", "py:function", "generated/$.html#$"),
        ("healpy.ud_grade", "py:function", "generated/$.html#$"),
        ("healpy.get_interp_weights", "py:function", "generated/$.html#$"),
        ("healpy.pixelfunc.get_interp_weights", "py:function",
         "generated/healpy.get_interp_weights.html#healpy.get_interp_weights"),
        ("healpy.Rotator", "py:class", "generated/$.html#$"),
        ("healpy.UNSEEN", "py:data", "healpy_pix.html#$"),
    ]),
    "skorch": ("1.4", [
        ("skorch.NeuralNet", "py:class", "net.html#skorch.net.NeuralNet"),
        ("skorch.net.NeuralNet", "py:class", "net.html#$"),
        ("skorch.NeuralNet.partial_fit", "py:method",
         "net.html#skorch.net.NeuralNet.partial_fit"),
        ("skorch.NeuralNet.fit", "py:method", "net.html#skorch.net.NeuralNet.fit"),
        ("skorch.NeuralNetClassifier", "py:class",
         "classifier.html#skorch.classifier.NeuralNetClassifier"),
        ("skorch.NeuralNetRegressor", "py:class",
         "regressor.html#skorch.regressor.NeuralNetRegressor"),
        ("skorch.callbacks.Callback", "py:class", "callbacks.html#$"),
        ("skorch.callbacks.Checkpoint", "py:class", "callbacks.html#$"),
        ("skorch.callbacks.ProgressBar", "py:class", "callbacks.html#$"),
        ("skorch.hf.AccelerateMixin", "py:class", "hf.html#$"),
        ("skorch.history.History", "py:class", "history.html#$"),
        ("skorch.dataset.ValidSplit", "py:class", "dataset.html#$"),
    ]),
    "matplotlib": ("3.10", [
        ("matplotlib.figure.Figure", "py:class", "api/_as_gen/matplotlib.figure.Figure.html#$"),
        ("matplotlib.axes.Axes", "py:class", "api/_as_gen/matplotlib.axes.Axes.html#$"),
        ("matplotlib.colorbar.Colorbar", "py:class", "api/colorbar_api.html#$"),
        ("matplotlib.pyplot.subplots", "py:function", "api/_as_gen/$.html#$"),
        ("matplotlib.pyplot.subplot", "py:function", "api/_as_gen/$.html#$"),
    ]),
    "joblib": ("1.5", [
        ("joblib.Memory", "py:class", "generated/$.html#$"),
        ("joblib.dump", "py:function", "generated/$.html#$"),
        ("joblib.Parallel", "py:class", "generated/$.html#$"),
        ("joblib.parallel_backend", "py:function", "generated/$.html#$"),
        ("joblib.parallel_config", "py:function", "generated/$.html#$"),
    ]),
    "pandas": ("3.0", [
        ("pandas.DataFrame", "py:class", "reference/api/$.html#$"),
    ]),
    # labels of scikit-learn's current documentation that the Debian
    # inventory (scikit-learn 1.2) predates; the docstrings of inherited
    # methods such as ``set_output`` link to them
    "sklearn_recent": ("1.9", [
        ("df_output_transform", "std:label", "modules/compose.html#df-output-transform"),
    ]),
    "h5py": ("3.14", [
        ("h5py.Dataset", "py:class", "high/dataset.html#$"),
    ]),
}


def write_inventory(path, project, version, entries):
    """Write a Sphinx version-2 inventory (a header, then zlib lines)."""
    header = (f"# Sphinx inventory version 2\n# Project: {project}\n"
              f"# Version: {version}\n"
              "# The remainder of this file is compressed using zlib.\n")
    lines = "".join(f"{name} {role} 1 {address} -\n"
                    for name, role, address in sorted(entries))
    Path(path).write_bytes(header.encode() + zlib.compress(lines.encode(), 9))


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for project, (version, entries) in TARGETS.items():
        write_inventory(here / f"{project}.inv", project, version, entries)
        print(f"{project}.inv: {len(entries)} objects")
