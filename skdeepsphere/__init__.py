"""skdeepsphere: DeepSphere graph CNNs on HEALPix maps as scikit-learn estimators."""

from .features import HistogramFeatures, PowerSpectrumFeatures

__version__ = "0.1.0"

__all__ = [
    "HistogramFeatures",
    "PowerSpectrumFeatures",
    "__version__",
]
