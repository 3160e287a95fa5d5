"""Save and load fitted spherical CNNs without pickle.

:func:`pickle.load` (and :func:`joblib.load`) runs whatever code the file
asks for: only unpickle files you wrote yourself. :func:`save_estimator`
writes a folder that holds no code, only

- ``estimator.json``: the class name, the hyperparameters
  (``get_params()``) and the learned scalars and label arrays;
- ``attributes.pt``: the learned numeric arrays (standardisation, pixel
  order, ...) as a dict of tensors;
- ``params.pt``, ``optimizer.pt``: the state dicts of the network and of
  Adam (:func:`torch.save`); ``history.json``: skorch's history.

:func:`load_estimator` accepts only the estimator classes of this package,
checks every hyperparameter against the estimator's parameter constraints
and every learned attribute against the list of attributes it has (names,
types, shapes, the pixel geometry recomputed), rebuilds the network from the
hyperparameters (the graph is deterministic) and reads the tensors with
``torch.load(weights_only=True)``, which refuses anything but tensors and
plain containers: such a folder is safe to load when it comes from someone
else. Settings that act on the user's files or run code when fitting
(``checkpoint``, ``resume``, ``callbacks``) are neither saved nor restored.
A malformed or hostile folder gives one :class:`ValueError` naming the file.
"""

import json
import numbers
import os

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.validation import check_is_fitted

from ._files import invalid, load_net, read_json, torch_load
from .estimators import SphericalCNNClassifier, SphericalCNNRegressor, resolve_device
from .healpix import nested_order

__all__ = ["save_estimator", "load_estimator"]

_FORMAT = 1
_CLASSES = {cls.__name__: cls for cls in (SphericalCNNClassifier, SphericalCNNRegressor)}
_FILES = {"f_params": "params.pt", "f_optimizer": "optimizer.pt",
          "f_history": "history.json"}
# Parameters that touch the user's files or run code during fit: a saved
# model never sets them (they keep their defaults after loading).
_NOT_SAVED = {"checkpoint": None, "resume": False, "callbacks": None}
# The learned attributes of each class, as (kind, allowed dtypes):
# everything else in a file is refused.
_COMMON = {"nside_": "int", "n_features_in_": "int", "n_channels_": "int",
           "n_epochs_": "int", "nested_pixels_": "iu", "pixel_order_": "iu",
           "input_mean_": "f", "input_scale_": "f"}
_ATTRIBUTES = {
    "SphericalCNNClassifier": {**_COMMON, "classes_": "biufU"},
    "SphericalCNNRegressor": {**_COMMON, "n_outputs_": "int", "y_ndim_": "int",
                              "target_mean_": "f", "target_scale_": "f"},
}
_OPTIONAL = {"feature_names_in_": "U"}


def _to_json(value, name):
    """A JSON-able copy of a hyperparameter, or a TypeError naming it."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (tuple, list, np.ndarray)):
        return {"__sequence__": type(value).__name__,
                "values": [_to_json(item, name) for item in np.asarray(value).tolist()]
                if isinstance(value, np.ndarray) else [_to_json(item, name) for item in value]}
    raise TypeError(
        f"cannot save parameter {name}={value!r} without pickle: only None, "
        "numbers, strings, paths and sequences of them are supported"
    )


def _from_json(value):
    """Inverse of :func:`_to_json`; a TypeError for anything it does not write."""
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if (isinstance(value, dict) and set(value) == {"__sequence__", "values"}
            and value["__sequence__"] in ("tuple", "list", "ndarray")
            and isinstance(value["values"], list)):
        items = [_from_json(item) for item in value["values"]]
        if value["__sequence__"] == "tuple":
            return tuple(items)
        return np.asarray(items) if value["__sequence__"] == "ndarray" else items
    raise TypeError(f"{type(value).__name__} values are not written by save_estimator")


def save_estimator(estimator, path):
    """Save a fitted spherical CNN to a folder, without pickle.

    Parameters
    ----------
    estimator : SphericalCNNClassifier or SphericalCNNRegressor
        Fitted. ``checkpoint``, ``resume`` and ``callbacks`` are not saved
        (they act on files or run code when fitting), nor a
        ``RandomState`` as ``random_state``: they are saved as their
        defaults.
    path : str or path-like
        Folder to write: created if needed; an existing folder must be
        empty or hold a saved estimator, whose files are replaced.

    Returns
    -------
    path : str

    Raises
    ------
    TypeError
        If ``estimator`` is not one of the package's CNN estimators or a
        parameter cannot be written as JSON.
    ValueError
        If ``path`` is a folder of other files.

    See Also
    --------
    load_estimator : Read the folder back.

    Examples
    --------
    >>> import os, tempfile
    >>> import numpy as np
    >>> from skdeepsphere import SphericalCNNClassifier, save_estimator, load_estimator
    >>> rng = np.random.default_rng(0)
    >>> maps, y = rng.normal(size=(20, 768)), np.repeat(["a", "b"], 10)
    >>> clf = SphericalCNNClassifier(channels=(4,), max_epochs=1, random_state=0).fit(maps, y)
    >>> path = save_estimator(clf, os.path.join(tempfile.mkdtemp(), "model"))
    >>> loaded = load_estimator(path)
    >>> bool(np.array_equal(loaded.predict_proba(maps), clf.predict_proba(maps)))
    True
    """
    if type(estimator).__name__ not in _CLASSES or not isinstance(
            estimator, tuple(_CLASSES.values())):
        raise TypeError(
            "save_estimator saves a SphericalCNNClassifier or SphericalCNNRegressor, "
            f"got {type(estimator).__name__}; use pickle or joblib for other estimators"
        )
    check_is_fitted(estimator, "net_")
    params = {}
    for name, value in estimator.get_params(deep=False).items():
        if name in _NOT_SAVED:
            value = _NOT_SAVED[name]
        elif name == "random_state" and isinstance(value, np.random.RandomState):
            value = None
        params[name] = _to_json(value, name)
    scalars, tensors = {}, {}
    for name, value in vars(estimator).items():
        if not name.endswith("_") or name.startswith("_") or name == "net_":
            continue
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf":
            tensors[name] = torch.from_numpy(np.ascontiguousarray(value))
        else:
            scalars[name] = _to_json(value, name)
    path = os.fspath(path)
    if (os.path.isdir(path) and os.listdir(path)
            and not os.path.isfile(os.path.join(path, "estimator.json"))):
        raise ValueError(
            f"{path!r} is a folder of other files, not a saved estimator: pass a new "
            "or empty folder (saving would overwrite files there)"
        )
    os.makedirs(path, exist_ok=True)
    estimator.net_.save_params(**{key: os.path.join(path, file)
                                  for key, file in _FILES.items()})
    torch.save(tensors, os.path.join(path, "attributes.pt"))
    with open(os.path.join(path, "estimator.json"), "w") as file:
        json.dump({"format": _FORMAT, "class": type(estimator).__name__,
                   "params": params, "attributes": scalars}, file, indent=1)
    return path


def load_estimator(path, *, device=None):
    """Load a spherical CNN saved by :func:`save_estimator`.

    No pickle is involved: the hyperparameters and labels are JSON and the
    tensors are read with ``torch.load(weights_only=True)``, so folders from
    others are safe to load (unlike pickle files).

    Parameters
    ----------
    path : str or path-like
        Folder written by :func:`save_estimator`.
    device : str, default=None
        Device of the loaded network (e.g. ``"cpu"`` for a model trained on
        a GPU); ``None`` keeps the saved ``device`` parameter.

    Returns
    -------
    estimator : SphericalCNNClassifier or SphericalCNNRegressor
        Fitted, with the predictions of the saved one.

    Raises
    ------
    FileNotFoundError
        If ``path`` holds no saved estimator.
    ValueError
        If a file of the folder is malformed or not what
        :func:`save_estimator` writes (an unknown class, format, parameter or
        attribute, a value outside the parameter's constraints, a pickled
        object in a tensor file): the message names the file. Nothing of the
        file is run. ``checkpoint``, ``resume`` and ``callbacks`` are never
        read from the file.

    See Also
    --------
    save_estimator : Write the folder.

    Examples
    --------
    >>> from skdeepsphere import load_estimator
    >>> load_estimator("no-such-folder")
    Traceback (most recent call last):
    ...
    FileNotFoundError: no saved estimator in 'no-such-folder' (estimator.json is missing)
    """
    path = os.fspath(path)
    description = os.path.join(path, "estimator.json")
    if not os.path.isfile(description):
        raise FileNotFoundError(
            f"no saved estimator in {path!r} (estimator.json is missing)"
        )
    saved = read_json(description, "saved estimator")
    if (saved.get("format") != _FORMAT or saved.get("class") not in _CLASSES
            or not isinstance(saved.get("params"), dict)
            or not isinstance(saved.get("attributes"), dict)):
        raise ValueError(
            f"{description!r} is not a saved SphericalCNNClassifier or "
            f"SphericalCNNRegressor of format {_FORMAT} (class "
            f"{saved.get('class')!r}, format {saved.get('format')!r})"
        )
    estimator = _CLASSES[saved["class"]]()
    estimator.set_params(**_checked_params(estimator, saved["params"], description))
    if device is not None:
        estimator.set_params(device=device)
    tensors = torch_load(os.path.join(path, "attributes.pt"), "file of learned attributes")
    _set_attributes(estimator, saved["attributes"], tensors, description,
                    os.path.join(path, "attributes.pt"))
    n_outputs = len(estimator.classes_) if is_classifier(estimator) else estimator.n_outputs_
    try:
        device = resolve_device(estimator.device)
    except ValueError as error:
        raise ValueError(f"{error}; pass device='cpu' to load_estimator") from None
    try:
        net = estimator._make_net(n_outputs, device)
        net.initialize()
    except ValueError as error:
        raise invalid(description, f"saved estimator: {error}") from None
    load_net(net, **{key: os.path.join(path, file) for key, file in _FILES.items()})
    estimator.net_ = net
    return estimator


def _checked_params(estimator, params, description):
    """The saved hyperparameters, checked against the class's constraints."""
    known = estimator.get_params(deep=False)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise invalid(description, f"saved {type(estimator).__name__}: unknown "
                                   f"parameters {unknown}")
    try:
        values = {name: _from_json(value) for name, value in params.items()
                  if name not in _NOT_SAVED}
        trial = type(estimator)(**values)
        trial._validate_params()
    except (InvalidParameterError, TypeError, ValueError) as error:
        raise invalid(description, f"saved {type(estimator).__name__}: {error}") from None
    return values


def _set_attributes(estimator, scalars, tensors, description, tensor_file):
    """Set the learned attributes after checking names, types and shapes."""
    if not isinstance(tensors, dict) or not all(
            isinstance(name, str) and isinstance(value, torch.Tensor)
            for name, value in tensors.items()):
        raise invalid(tensor_file, "file of learned attributes: expected a dict of tensors")
    expected = _ATTRIBUTES[type(estimator).__name__]
    names = set(tensors) | set(scalars)
    if names - set(expected) - set(_OPTIONAL) or set(expected) - names:
        raise invalid(description, f"saved {type(estimator).__name__}: the learned "
                                   f"attributes are {sorted(names)}, expected "
                                   f"{sorted(expected)}")
    values = {name: value.numpy() for name, value in tensors.items()}
    for name, value in scalars.items():
        try:
            values[name] = _from_json(value)
        except (TypeError, ValueError) as error:
            raise invalid(description, f"saved estimator: attribute {name}: {error}") from None
    for name, value in values.items():
        kind = {**expected, **_OPTIONAL}[name]
        if kind == "int":
            ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) \
                and value >= 0
        else:
            value = np.asarray(value)
            ok = value.ndim == 1 and value.dtype.kind in kind
        if not ok:
            raise invalid(description, f"saved estimator: attribute {name} has the wrong "
                                       "type or shape")
        values[name] = value
    sizes = {"nested_pixels_": "n_features_in_", "pixel_order_": "n_features_in_",
             "input_mean_": "n_channels_", "input_scale_": "n_channels_",
             "target_mean_": "n_outputs_", "target_scale_": "n_outputs_",
             "feature_names_in_": "n_features_in_"}
    try:
        for name, size in sizes.items():
            if name in values and len(values[name]) != values[size]:
                raise ValueError(f"{name} has {len(values[name])} entries, not {size}")
        if values.get("y_ndim_", 1) not in (1, 2):
            raise ValueError("y_ndim_ must be 1 or 2")
        if "classes_" in values and len(values["classes_"]) < 2:
            raise ValueError("classes_ must hold at least 2 classes")
        order, nested = nested_order(values["nside_"], estimator.pixels, estimator.nest)
        if not (np.array_equal(order, values["pixel_order_"])
                and np.array_equal(nested, values["nested_pixels_"])):
            raise ValueError("pixel_order_ and nested_pixels_ do not match nside_, "
                             "pixels and nest")
    except (ValueError, TypeError) as error:
        raise invalid(description, f"saved estimator: {error}") from None
    if "feature_names_in_" in values:
        values["feature_names_in_"] = values["feature_names_in_"].astype(object)
    for name, value in values.items():
        setattr(estimator, name, value)
