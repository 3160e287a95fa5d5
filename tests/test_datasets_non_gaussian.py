"""make_weak_non_gaussian_maps: same spectra, different one-point statistics."""

import healpy as hp
import numpy as np
import pytest
from scipy.stats import skew

from skdeepsphere.datasets import make_weak_non_gaussian_maps


def band_powers(maps, nside, edges):
    """Variance of each map in bands of multipoles, one row per map."""
    cl = np.array([hp.anafast(m, lmax=3 * nside - 1, iter=0) for m in maps])
    weighted = (2 * np.arange(cl.shape[1]) + 1) * cl
    return np.stack([weighted[:, a:b].sum(1) for a, b in zip(edges, edges[1:])], axis=1)


def test_classes_share_the_spectrum_and_differ_in_skewness():
    nside, a = 8, 0.2
    X, y = make_weak_non_gaussian_maps(80, nside=nside, non_gaussianity=a, random_state=0)
    assert X.shape == (80, 768) and X.dtype == np.float32
    assert np.bincount(y).tolist() == [40, 40]
    # The band powers of the two classes have the same mean: the difference
    # of the class means is within 3 standard errors in every band, while
    # the non-Gaussian term alone would add 2 a^2 = 8 % of the variance.
    powers = band_powers(X, nside, [1, 4, 8, 16, 24])
    gaussian, non_gaussian = powers[y == 0], powers[y == 1]
    error = np.sqrt(gaussian.var(0, ddof=1) / 40 + non_gaussian.var(0, ddof=1) / 40)
    assert np.all(np.abs(gaussian.mean(0) - non_gaussian.mean(0)) < 3 * error)
    # Skewness of g + a (g^2 - 1): (6a + 8a^3) / (1 + 2a^2)^1.5 before the
    # band limit, which removes part of the g^2 term's small-scale power.
    expected = (6 * a + 8 * a**3) / (1 + 2 * a**2) ** 1.5
    skewness = skew(X, axis=1)
    assert 0.5 * expected < skewness[y == 1].mean() < 1.1 * expected
    assert abs(skewness[y == 0].mean()) < 0.1


def test_noise_and_nest():
    ring, y = make_weak_non_gaussian_maps(4, nside=4, random_state=1)
    nest, y_nest = make_weak_non_gaussian_maps(4, nside=4, nest=True, random_state=1)
    np.testing.assert_array_equal(y, y_nest)
    np.testing.assert_allclose(hp.reorder(nest, n2r=True), ring)
    noisy, _ = make_weak_non_gaussian_maps(4, nside=4, noise_level=10.0, random_state=1)
    assert 8 < (noisy - ring).std() < 12


@pytest.mark.parametrize("kwargs, match", [
    ({"n_samples": 1}, "n_samples must be an integer >= 2"),
    ({"nside": 3}, "power of 2"),
    ({"noise_level": -1.0}, "noise_level must be >= 0"),
    ({"non_gaussianity": np.nan}, "non_gaussianity must be a finite number"),
])
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_weak_non_gaussian_maps(**{"n_samples": 4, "nside": 4, **kwargs})


def test_docstring_example():
    import doctest

    from skdeepsphere.datasets import _non_gaussian

    result = doctest.testmod(_non_gaussian, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
