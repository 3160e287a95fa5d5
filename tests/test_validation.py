"""Bad input at every public entry point: the right exception and a message
that names the problem and the expected value."""

import healpy as hp
import numpy as np
import pytest

from skdeepsphere import (HistogramFeatures, PowerSpectrumFeatures, SphericalCNNClassifier,
                          SphericalCNNRegressor)
from skdeepsphere.datasets import (extract_patches, load_healpix_maps, make_convergence_maps,
                                   make_convergence_regression)

NSIDE = 8
NPIX = hp.nside2npix(NSIDE)
RNG = np.random.default_rng(0)
MAPS = RNG.standard_normal((12, NPIX))
LABELS = np.repeat([0, 1], 6)
FAST = dict(channels=(2,), cheb_order=2, max_epochs=1, device="cpu", random_state=0)


def with_value(maps, value, index=(3, 5)):
    maps = maps.copy()
    maps[index] = value
    return maps


def fitted(estimator, X=MAPS, y=LABELS):
    return estimator.fit(X, y) if y is not None else estimator.fit(X)


Clf = lambda **kw: SphericalCNNClassifier(**FAST, **kw)  # noqa: E731
Reg = lambda **kw: SphericalCNNRegressor(**FAST, **kw)  # noqa: E731

# (id, callable, expected exception, regex of the message)
CASES = [
    # estimators: geometry
    ("pixel count not 12 nside^2", lambda: Clf().fit(MAPS[:, :700], LABELS),
     ValueError, r"700 pixels is not a full HEALPix sky \(12 \* nside\*\*2\)"),
    ("pixel count not that of nside", lambda: Clf(nside=16).fit(MAPS, LABELS),
     ValueError, r"maps have 768 pixels but a full sky at nside=16 has 3072"),
    ("pixel count not len(pixels)", lambda: Clf(nside=8, pixels=np.arange(10)).fit(
        MAPS[:, :12], LABELS), ValueError, r"maps have 12 pixels but `pixels` lists 10"),
    ("duplicate pixels", lambda: Clf(nside=8, pixels=[1, 2, 2]).fit(MAPS[:, :3], LABELS),
     ValueError, r"pixels must not contain duplicates"),
    ("pixels out of range", lambda: Clf(nside=8, pixels=[0, 1, 768]).fit(MAPS[:, :3], LABELS),
     ValueError, r"pixels must lie in \[0, 768\) for nside=8, got \[0, 768\]"),
    ("negative pixels", lambda: Reg(nside=8, pixels=[-1, 1]).fit(MAPS[:, :2], LABELS),
     ValueError, r"pixels must lie in \[0, 768\)"),
    ("nside not a power of two", lambda: Clf(nside=12).fit(MAPS, LABELS),
     ValueError, r"nside must be a power of 2 between 1 and 2\*\*29, got 12"),
    ("partial sky without nside", lambda: Clf(pixels=[1, 2]).fit(MAPS[:, :2], LABELS),
     ValueError, r"a partial sky \(`pixels` given\) needs `nside` too"),
    # estimators: values
    ("NaN in maps", lambda: Clf().fit(with_value(MAPS, np.nan), LABELS),
     ValueError, r"maps contain NaN or infinite values"),
    ("inf in maps", lambda: Reg().fit(with_value(MAPS, -np.inf), LABELS),
     ValueError, r"maps contain NaN or infinite values"),
    ("UNSEEN in CNN maps", lambda: Clf().fit(with_value(MAPS, hp.UNSEEN), LABELS),
     ValueError, r"masked pixels \(healpy.UNSEEN\); fill them, or leave them out"),
    ("strings as maps", lambda: Clf().fit(np.full((12, NPIX), "a"), LABELS),
     TypeError, r"maps must be numeric arrays"),
    ("complex maps", lambda: Reg().fit(MAPS + 1j, LABELS),
     ValueError, r"Complex data not supported: maps must be real"),
    # estimators: shapes
    ("1-D input", lambda: Clf().fit(MAPS[0], LABELS),
     ValueError, r"got an array of shape \(768,\).*reshape\(1, -1\)"),
    ("4-D input", lambda: Clf().fit(MAPS.reshape(12, 1, 1, NPIX), LABELS),
     ValueError, r"\(n_samples, n_channels, n_pixels\), got an array of shape \(12, 1, 1, 768\)"),
    ("empty input", lambda: Clf().fit(MAPS[:0], LABELS[:0]),
     ValueError, r"0 sample\(s\) \(shape=\(0, 768\)\).*maps must not be empty"),
    ("wrong channels at predict", lambda: fitted(Clf()).predict(MAPS.reshape(12, 1, NPIX)
                                                               .repeat(2, axis=1)),
     ValueError, r"X has 2 channels, but SphericalCNNClassifier was fitted on 1"),
    ("wrong pixels at predict", lambda: fitted(Reg()).predict(MAPS[:, :192]),
     ValueError, r"X has 192 features, but SphericalCNNRegressor is expecting 768 features "
                 r"as input \(pixels per map\)"),
    ("predict before fit", lambda: Clf().predict(MAPS),
     Exception, r"This SphericalCNNClassifier instance is not fitted yet"),
    # estimators: targets
    ("single class", lambda: Clf().fit(MAPS, np.ones(12)),
     ValueError, r"at least 2 classes, got 1 class: 1.0"),
    ("continuous labels", lambda: Clf().fit(MAPS, np.linspace(0, 1, 12)),
     ValueError, r"Unknown label type: continuous"),
    ("non-numeric regression targets", lambda: Reg().fit(MAPS, np.array(["a", "b"] * 6)),
     ValueError, r"y must hold numbers \(regression targets\), got <U1 values"),
    ("NaN regression target", lambda: Reg().fit(MAPS, with_value(LABELS * 1.0, np.nan, 2)),
     ValueError, r"y contains NaN or infinite values"),
    ("y length mismatch", lambda: Clf().fit(MAPS, LABELS[:9]),
     ValueError, r"X has 12 maps but y has 9 labels"),
    ("y missing", lambda: Reg().fit(MAPS, None),
     ValueError, r"SphericalCNNRegressor requires y to be passed"),
    ("y with 3 dimensions", lambda: Reg().fit(MAPS, np.zeros((12, 2, 2))),
     ValueError, r"y must have shape \(12,\) or \(12, n_targets\), got \(12, 2, 2\)"),
    ("bad hyperparameter", lambda: Clf(pooling="median").fit(MAPS, LABELS),
     ValueError, r"The 'pooling' parameter .* must be a str among .*'avg'.*Got 'median'"),
    ("too many poolings", lambda: Clf(n_poolings=4).fit(MAPS, LABELS),
     ValueError, r"n_poolings=4 is too many for nside=8 \(at most 3\)"),
    # transformers
    ("histogram: UNSEEN without ignore_masked",
     lambda: HistogramFeatures().fit(with_value(MAPS, hp.UNSEEN)),
     ValueError, r"masked pixels \(healpy.UNSEEN\).*ignore_masked=True"),
    ("histogram: NaN", lambda: HistogramFeatures().fit(with_value(MAPS, np.nan)),
     ValueError, r"maps contain NaN or infinite values"),
    ("histogram: inf even with ignore_masked",
     lambda: HistogramFeatures(ignore_masked=True).fit(with_value(MAPS, np.inf)),
     ValueError, r"maps contain infinite values"),
    ("histogram: 1-D input", lambda: HistogramFeatures().fit(MAPS[0]),
     ValueError, r"got an array of shape \(768,\)"),
    ("histogram: wrong channels at transform",
     lambda: HistogramFeatures().fit(MAPS).transform(MAPS.reshape(6, 2, NPIX)),
     ValueError, r"maps have 2 channels, but HistogramFeatures was fitted on maps with 1"),
    ("histogram: decreasing bin edges", lambda: HistogramFeatures(bins=[1, 0]).fit(MAPS),
     ValueError, r"bins must be an int or a 1-D array of at least 2 finite, strictly "
                 r"increasing edges"),
    ("spectrum: pixel count not 12 nside^2", lambda: PowerSpectrumFeatures().fit(MAPS[:, :700]),
     ValueError, r"700 pixels is not a full HEALPix sky"),
    ("spectrum: nside not a power of two",
     lambda: PowerSpectrumFeatures(nside=12, pixels=np.arange(5)).fit(MAPS[:, :5]),
     ValueError, r"nside must be a power of 2 between 1 and 2\*\*29, got 12"),
    ("spectrum: duplicate pixels",
     lambda: PowerSpectrumFeatures(nside=8, pixels=[3, 3]).fit(MAPS[:, :2]),
     ValueError, r"pixels must not contain duplicates"),
    ("spectrum: a map with no observed pixel",
     lambda: PowerSpectrumFeatures(ignore_masked=True).fit(with_value(MAPS, np.nan, 4)),
     ValueError, r"map 4 \(channel 0\) has no observed pixel"),
    ("spectrum: empty input", lambda: PowerSpectrumFeatures().fit(MAPS[:0]),
     ValueError, r"maps must not be empty"),
    ("spectrum: wrong pixels at transform",
     lambda: PowerSpectrumFeatures().fit(MAPS).transform(MAPS[:, :192]),
     ValueError, r"X has 192 features, but PowerSpectrumFeatures is expecting 768"),
    # dataset loaders and generators
    ("loader: missing file", lambda: load_healpix_maps("/nonexistent/map.fits"),
     FileNotFoundError, r"no HEALPix map file at '/nonexistent/map.fits'"),
    ("loader: nside not a power of two", lambda: load_healpix_maps("x.fits", nside=6),
     ValueError, r"nside must be a power of 2 between 1 and 2\*\*29, got 6"),
    ("loader: no paths", lambda: load_healpix_maps([]),
     ValueError, r"paths must name at least one file"),
    ("loader: nest not a bool", lambda: load_healpix_maps("x.fits", nest="ring"),
     TypeError, r"The 'nest' parameter of load_healpix_maps must be an instance of 'bool'.*"
                r"Got 'ring' instead"),
    ("loader: field of a wrong type", lambda: load_healpix_maps("x.fits", field=[1.5]),
     TypeError, r"field must hold column numbers or names, got 1.5"),
    ("generator: nside not a power of two", lambda: make_convergence_maps(4, nside=12),
     ValueError, r"nside must be a power of 2 between 1 and 2\*\*29, got 12"),
    ("generator: no samples", lambda: make_convergence_regression(0, nside=8),
     ValueError, r"The 'n_samples' parameter of make_convergence_regression must be an int in "
                 r"the range \[1, inf\)\. Got 0 instead"),
    ("patches: pixel count not 12 nside^2", lambda: extract_patches(MAPS[:, :700], 1),
     ValueError, r"700 pixels is not a full HEALPix sky"),
    ("patches: patch_nside not a power of two", lambda: extract_patches(MAPS, 3),
     ValueError, r"patch_nside.*power of 2.*3"),
    ("patches: NaN", lambda: extract_patches(with_value(MAPS, np.inf), 1),
     ValueError, r"maps contain infinite values"),
]


def test_the_table_is_long_enough():
    assert len(CASES) >= 20
    assert len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("call, error, message", [case[1:] for case in CASES],
                         ids=[case[0] for case in CASES])
def test_bad_input_raises_a_clear_error(call, error, message):
    with pytest.raises(error, match=message) as raised:
        call()
    # the message comes from the package (or sklearn's validation), never from
    # deep inside numpy or torch
    assert raised.type.__module__.split(".")[0] in ("builtins", "sklearn")
