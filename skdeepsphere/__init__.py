"""skdeepsphere: DeepSphere graph CNNs on HEALPix maps as scikit-learn estimators."""

import importlib

from ._config import config_context, get_config, set_config

__version__ = "0.1.0"

# Public name -> module. Imported on first use, so that the feature
# transformers (and joblib workers that unpickle them) do not pay for
# importing torch.
_LAZY = {
    "HistogramFeatures": "features",
    "PowerSpectrumFeatures": "features",
    "MultiScaleHistogramFeatures": "features",
    "PeakCountFeatures": "features",
    "MinkowskiFunctionalFeatures": "features",
    "SphericalCNNClassifier": "estimators",
    "SphericalCNNRegressor": "estimators",
    "empirical_equivariance_error": "rotation",
    "save_estimator": "persistence",
    "load_estimator": "persistence",
}

__all__ = [
    "HistogramFeatures",
    "PowerSpectrumFeatures",
    "MultiScaleHistogramFeatures",
    "PeakCountFeatures",
    "MinkowskiFunctionalFeatures",
    "SphericalCNNClassifier",
    "SphericalCNNRegressor",
    "empirical_equivariance_error",
    "save_estimator",
    "load_estimator",
    "config_context",
    "get_config",
    "set_config",
    "__version__",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
