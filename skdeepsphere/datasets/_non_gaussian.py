"""Two classes of full-sky maps with the same power spectrum, one of them
weakly non-Gaussian: a task that only statistics beyond the spectrum solve.

A Gaussian field :math:`g` of unit variance with
:math:`C_\\ell \\propto (\\ell + 1)^{-n}` becomes, pixel by pixel, the
local-type non-Gaussian field

.. math::

    f = g + a \\, (g^2 - 1),

whose skewness is about :math:`6a`. Class 1 is :math:`f` itself; class 0
is a Gaussian field with, at every multipole, exactly the power of a
realisation of :math:`f`: its harmonic coefficients are fresh complex
normals rescaled per :math:`\\ell` so that their empirical spectrum
:math:`\\hat C_\\ell = \\sum_m |a_{\\ell m}|^2 / (2\\ell + 1)` equals that of
:math:`f`. Both classes are synthesised from their coefficients, so the
measured power spectra of the two classes have the same distribution and
a power-spectrum classifier is at chance by construction.
"""

import numbers

import healpy as hp
import numpy as np
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ..healpix import check_nside

__all__ = ["make_weak_non_gaussian_maps"]


def _complex_normals(size, random_state):
    return random_state.standard_normal(size) + 1j * random_state.standard_normal(size)


def _empirical_spectrum(alm, lmax, ell_of_alm, m_of_alm):
    """:math:`\\hat C_\\ell` of healpy's m >= 0 coefficients."""
    weight = np.where(m_of_alm == 0, 1.0, 2.0)
    power = np.bincount(ell_of_alm, weights=weight * np.abs(alm) ** 2, minlength=lmax + 1)
    return power / (2 * np.arange(lmax + 1) + 1)


def make_weak_non_gaussian_maps(n_samples=300, *, nside=64, non_gaussianity=0.1,
                                spectral_index=2.0, noise_level=0.0, nest=False,
                                random_state=None):
    """Gaussian maps versus weakly non-Gaussian maps of the same spectrum.

    Half the maps (label 1) are the local-type non-Gaussian field
    :math:`f = g + a (g^2 - 1)` of a unit-variance Gaussian field
    :math:`g` with :math:`C_\\ell \\propto (\\ell + 1)^{-n}`,
    :math:`1 \\le \\ell < 3\\,\\mathrm{nside}`; the other half (label 0) are
    Gaussian fields drawn with, at every :math:`\\ell`, exactly the
    empirical power of one realisation of :math:`f`. The classes differ
    only in statistics beyond the power spectrum (skewness about
    :math:`6a`, peaks, Minkowski functionals), spread over all scales.

    Parameters
    ----------
    n_samples : int, default=300
        Number of maps, half of each class (one more of class 0 if odd).
    nside : int, default=64
        HEALPix resolution.
    non_gaussianity : float, default=0.1
        The coefficient :math:`a` of :math:`g^2`; 0 gives two classes of
        Gaussian maps with the same spectra (a null test).
    spectral_index : float, default=2.0
        The index :math:`n` of the spectrum of :math:`g`; 2 puts equal
        variance in every logarithmic band of :math:`\\ell`.
    noise_level : float, default=0.0
        Standard deviation of white Gaussian noise added to every pixel,
        in units of the standard deviation of :math:`g`.
    nest : bool, default=False
        Return NESTED maps if True, else RING (as healpy).
    random_state : int, RandomState instance or None, default=None
        Seeds the fields, the labels and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, 12 * nside**2), float32
    y : ndarray of shape (n_samples,), int
        0 for Gaussian maps, 1 for non-Gaussian maps, in random order.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import skew
    >>> from skdeepsphere.datasets import make_weak_non_gaussian_maps
    >>> X, y = make_weak_non_gaussian_maps(20, nside=16, non_gaussianity=0.2,
    ...                                    random_state=0)
    >>> X.shape, np.bincount(y).tolist()
    ((20, 3072), [10, 10])
    >>> bool(skew(X[y == 1], axis=1).mean() > skew(X[y == 0], axis=1).mean())
    True
    """
    if not isinstance(n_samples, numbers.Integral) or n_samples < 2:
        raise ValueError(f"n_samples must be an integer >= 2, got {n_samples!r}")
    nside = check_nside(nside)
    for name, value in [("non_gaussianity", non_gaussianity),
                        ("spectral_index", spectral_index), ("noise_level", noise_level)]:
        if not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if noise_level < 0:
        raise ValueError(f"noise_level must be >= 0, got {noise_level!r}")
    random_state = check_random_state(random_state)
    lmax = 3 * nside - 1
    ell = np.arange(lmax + 1)
    cl = (ell + 1.0) ** -float(spectral_index)
    cl[0] = 0
    cl /= np.sum((2 * ell + 1) * cl) / (4 * np.pi)  # unit pixel variance
    ell_of_alm, m_of_alm = hp.Alm.getlm(lmax)
    real = m_of_alm == 0
    amplitude = np.sqrt(cl[ell_of_alm] / 2)

    def gaussian_alm(scale):
        alm = scale * _complex_normals(ell_of_alm.size, random_state)
        alm[real] = np.sqrt(2) * alm[real].real
        return alm

    y = random_state.permutation(np.arange(n_samples) % 2)
    X = np.empty((n_samples, hp.nside2npix(nside)), dtype=np.float32)
    # Transforms of a few milliseconds: healpy's OpenMP threads cost more
    # than they save (much more on a loaded machine).
    with threadpool_limits(1 if nside <= 128 else None):
        for i, label in enumerate(y):
            # g^2 has power up to 2 lmax: at twice the resolution its
            # transform is not aliased, so that the coefficients up to lmax
            # are those of the non-Gaussian field, isotropic like class 0's.
            g = hp.alm2map(gaussian_alm(amplitude), 2 * nside, lmax=lmax)
            alm = hp.map2alm(g + non_gaussianity * (g * g - 1), lmax=lmax, iter=1)
            if label == 0:
                target = _empirical_spectrum(alm, lmax, ell_of_alm, m_of_alm)
                alm = gaussian_alm(1.0)
                drawn = _empirical_spectrum(alm, lmax, ell_of_alm, m_of_alm)
                ratio = np.divide(target, drawn, out=np.zeros_like(target), where=drawn > 0)
                alm *= np.sqrt(ratio)[ell_of_alm]
            X[i] = hp.alm2map(alm, nside, lmax=lmax)
            if noise_level:
                X[i] += noise_level * random_state.standard_normal(X.shape[1])
    if nest:
        X = X[:, hp.nest2ring(nside, np.arange(X.shape[1]))]
    return X, y
