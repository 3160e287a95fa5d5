"""Run scikit-learn's generic estimator checks on map estimators.

The checks feed small tabular arrays (1 to 20 columns) while the map
estimators need HEALPix geometry. The adapters below read ``n`` columns as
the first ``n`` NESTED pixels of the smallest nside whose sky holds them, a
partial sky, through the estimators' private ``_geometry`` hook: every other
line of ``fit``/``predict``/``transform`` runs as it does on real maps.
"""

import numpy as np

from skdeepsphere import (
    MinkowskiFunctionalFeatures,
    MultiScaleHistogramFeatures,
    PeakCountFeatures,
    PowerSpectrumFeatures,
    SphericalCNNClassifier,
    SphericalCNNRegressor,
)


def tabular_geometry(n_columns):
    """``(nside, pixels, nest)``: the first ``n_columns`` nested pixels."""
    nside = 1
    while 12 * nside**2 < n_columns:
        nside *= 2
    return nside, np.arange(n_columns), True


class _Tabular:
    def _geometry(self, n_pixels):
        return tabular_geometry(n_pixels)


class TabularClassifier(_Tabular, SphericalCNNClassifier):
    pass


class TabularRegressor(_Tabular, SphericalCNNRegressor):
    pass


class TabularPowerSpectrumFeatures(_Tabular, PowerSpectrumFeatures):
    pass


class TabularMultiScaleHistogramFeatures(_Tabular, MultiScaleHistogramFeatures):
    pass


class TabularPeakCountFeatures(_Tabular, PeakCountFeatures):
    pass


class TabularMinkowskiFunctionalFeatures(_Tabular, MinkowskiFunctionalFeatures):
    pass
