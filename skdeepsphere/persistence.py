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
rebuilds the network from the hyperparameters (the graph is deterministic)
and reads the tensors with ``torch.load(weights_only=True)``, which refuses
anything but tensors and plain containers: such a folder is safe to load
when it comes from someone else.
"""

import json
import numbers
import os

import numpy as np
import torch
from sklearn.base import is_classifier
from sklearn.utils.validation import check_is_fitted

from .estimators import (
    SphericalCNNClassifier,
    SphericalCNNRegressor,
    _DeepSphereNet,
    resolve_device,
)

__all__ = ["save_estimator", "load_estimator"]

_FORMAT = 1
_CLASSES = {cls.__name__: cls for cls in (SphericalCNNClassifier, SphericalCNNRegressor)}
_FILES = {"f_params": "params.pt", "f_optimizer": "optimizer.pt",
          "f_history": "history.json"}


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
    if isinstance(value, dict):
        # e.g. class_weight={label: weight}; keys may be numbers (not JSON keys).
        return {"__mapping__": [[_to_json(key, name), _to_json(item, name)]
                                for key, item in value.items()]}
    raise TypeError(
        f"cannot save parameter {name}={value!r} without pickle: only None, "
        "numbers, strings, paths and sequences and dicts of them are supported"
    )


def _from_json(value):
    if isinstance(value, dict) and "__mapping__" in value:
        return {_from_json(key): _from_json(item) for key, item in value["__mapping__"]}
    if isinstance(value, dict) and "__sequence__" in value:
        items = [_from_json(item) for item in value["values"]]
        if value["__sequence__"] == "tuple":
            return tuple(items)
        return np.asarray(items) if value["__sequence__"] == "ndarray" else items
    return value


def save_estimator(estimator, path):
    """Save a fitted spherical CNN to a folder, without pickle.

    Parameters
    ----------
    estimator : SphericalCNNClassifier or SphericalCNNRegressor
        Fitted. Parameters that only matter for training and cannot be
        written as JSON (``callbacks``, a ``RandomState`` as
        ``random_state``) are saved as ``None``.
    path : str or path-like
        Folder to write (created if needed; its files are overwritten).

    Returns
    -------
    path : str

    Raises
    ------
    TypeError
        If ``estimator`` is not one of the package's CNN estimators or a
        parameter cannot be written as JSON.

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
        if name == "callbacks" or (name == "random_state"
                                   and isinstance(value, np.random.RandomState)):
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
        If the folder names an unknown class or format.

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
    with open(description) as file:
        saved = json.load(file)
    if saved.get("format") != _FORMAT or saved.get("class") not in _CLASSES:
        raise ValueError(
            f"{description!r} is not a saved SphericalCNNClassifier or "
            f"SphericalCNNRegressor of format {_FORMAT} (class "
            f"{saved.get('class')!r}, format {saved.get('format')!r})"
        )
    estimator = _CLASSES[saved["class"]]()
    params = {name: _from_json(value) for name, value in saved["params"].items()}
    if device is not None:
        params["device"] = device
    estimator.set_params(**params)
    for name, value in saved["attributes"].items():
        setattr(estimator, name, _from_json(value))
    tensors = torch.load(os.path.join(path, "attributes.pt"), weights_only=True)
    for name, value in tensors.items():
        setattr(estimator, name, value.numpy())
    n_outputs = len(estimator.classes_) if is_classifier(estimator) else estimator.n_outputs_
    criterion = torch.nn.CrossEntropyLoss if is_classifier(estimator) else torch.nn.MSELoss
    net = _DeepSphereNet(module=estimator._build_module(n_outputs), criterion=criterion,
                         optimizer=torch.optim.Adam, lr=estimator.lr,
                         batch_size=estimator.batch_size,
                         device=resolve_device(estimator.device),
                         torch_load_kwargs={"weights_only": True})
    net.initialize()
    net.load_params(**{key: os.path.join(path, file) for key, file in _FILES.items()})
    estimator.net_ = net
    return estimator
