"""skdeepsphere: DeepSphere graph CNNs on HEALPix maps as scikit-learn estimators."""

import importlib

__version__ = "0.1.0"

# Public name -> module. Imported on first use, so that the feature
# transformers (and joblib workers that unpickle them) do not pay for
# importing torch.
_LAZY = {
    "HistogramFeatures": "features",
    "PowerSpectrumFeatures": "features",
    "SphericalCNNClassifier": "estimators",
    "SphericalCNNRegressor": "estimators",
    "empirical_equivariance_error": "rotation",
    "save_estimator": "persistence",
    "load_estimator": "persistence",
}

__all__ = [
    "HistogramFeatures",
    "PowerSpectrumFeatures",
    "SphericalCNNClassifier",
    "SphericalCNNRegressor",
    "empirical_equivariance_error",
    "save_estimator",
    "load_estimator",
    "__version__",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
