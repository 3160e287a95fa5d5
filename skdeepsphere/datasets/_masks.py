"""Real survey footprints as HEALPix masks.

Two sources, neither shipped with skdeepsphere:

- the footprint outlines of the ``skyproj`` package (BSD-3 licence, the
  ``masks`` extra), polygons in equatorial (RA, Dec) degrees, rasterised
  here by testing each pixel centre;
- the WMAP 7-year temperature analysis mask at nside 32 in Galactic
  coordinates (NASA data, public domain), from healpy's test data, which
  Debian's ``healpy-data`` package installs under
  ``/usr/share/healpy/test/data``.
"""

import os

import healpy as hp
import numpy as np

from ..healpix import check_nside

__all__ = ["load_survey_mask", "SURVEYS"]

#: Outline files of skyproj (``skyproj/data``), by survey name.
_SKYPROJ_FILES = {
    "des": "des-round19-poly.txt",
    "des-round17": "des-round17-poly.txt",
    "decals": "decals-poly.txt",
}
_WMAP_FILE = "wmap_temperature_analysis_mask_r9_7yr_v4_udgraded32.fits"
#: Folders searched for healpy's test data, Debian's first.
WMAP_DIRECTORIES = ("/usr/share/healpy/test/data",)

#: Names accepted by :func:`load_survey_mask`.
SURVEYS = tuple(_SKYPROJ_FILES) + ("wmap",)


def _read_polygons(path):
    """Vertices (lon, lat) in degrees of each polygon of a skyproj outline file."""
    data = np.loadtxt(path, comments="#", ndmin=2)
    if data.shape[1] == 2:
        data = np.column_stack([data, np.zeros(len(data))])
    return [data[data[:, 2] == label, :2] for label in np.unique(data[:, 2])]


def _inside_polygon(lon, lat, vertices):
    """Even-odd ray casting in the (lon, lat) plane, lon unwrapped to the polygon.

    The outlines are dense (a vertex every degree or so), so edges drawn as
    straight lines in (lon, lat) are as good as great-circle arcs at the
    resolution of a mask.
    """
    poly_lon, poly_lat = vertices[:, 0], vertices[:, 1]
    start = poly_lon.min()
    lon = (lon - start) % 360.0 + start
    inside = np.zeros(lon.shape, dtype=bool)
    for k in range(len(vertices)):
        x0, y0 = poly_lon[k - 1], poly_lat[k - 1]
        x1, y1 = poly_lon[k], poly_lat[k]
        crosses = (y0 > lat) != (y1 > lat)
        if not crosses.any():
            continue
        x_cross = x0 + (lat[crosses] - y0) * (x1 - x0) / (y1 - y0)
        inside[crosses] ^= lon[crosses] < x_cross
    return inside


def _skyproj_mask(survey, nside):
    try:
        from skyproj.utils import get_datafile
    except ImportError:
        raise ImportError(
            f"survey={survey!r} reads the footprint outlines shipped with skyproj: "
            "pip install 'skdeepsphere[masks]' (or pip install skyproj)"
        ) from None
    polygons = _read_polygons(get_datafile(_SKYPROJ_FILES[survey]))
    lon, lat = hp.pix2ang(nside, np.arange(hp.nside2npix(nside)), lonlat=True)
    mask = np.zeros(lon.shape, dtype=bool)
    for vertices in polygons:
        mask |= _inside_polygon(lon, lat, vertices)
    return mask


def _wmap_mask(nside, directory):
    directories = WMAP_DIRECTORIES if directory is None else (os.fspath(directory),)
    for folder in directories:
        path = os.path.join(folder, _WMAP_FILE)
        if os.path.isfile(path):
            break
    else:
        raise FileNotFoundError(
            f"{_WMAP_FILE} is not in {', '.join(directories)}: install Debian's "
            "healpy-data package (apt-get install healpy-data) or pass the folder "
            "holding healpy's test data as directory="
        )
    # 1 = kept for analysis, 0 = masked (Galactic plane and point sources).
    native = hp.read_map(path, field=0, dtype=np.float64)
    # Average the native pixels into coarser ones (keep those more than half
    # observed) or repeat them into finer ones.
    return hp.ud_grade(native, nside) > 0.5


def load_survey_mask(survey, nside, *, nest=False, directory=None):
    """Footprint of a real survey as a boolean HEALPix mask.

    Parameters
    ----------
    survey : {"des", "des-round17", "decals", "wmap"}
        ``"des"``: the Dark Energy Survey wide field (round-19 outline,
        about 5,000 deg²); ``"des-round17"``: its 2017 outline;
        ``"decals"``: DECaLS (estimated from its exposures). These are outlines in
        equatorial coordinates shipped with the ``skyproj`` package (the
        ``masks`` extra); a pixel is in the footprint if its centre is.
        ``"wmap"``: the WMAP 7-year temperature analysis mask (Galactic
        coordinates, native nside 32, 62 % of the sky: the Galactic plane
        and the point sources are cut, each source as whole nside-32
        pixels, which leaves many small holes), read from healpy's test
        data.
    nside : int
        Resolution of the returned mask, a power of 2. The WMAP mask is
        averaged into coarser pixels (kept where more than half is observed)
        or repeated into finer ones.
    nest : bool, default=False
        Ordering of the returned mask: NESTED if True, RING otherwise.
    directory : path-like or None, default=None
        Only for ``"wmap"``: the folder holding healpy's test data; by
        default Debian's ``/usr/share/healpy/test/data``.

    Returns
    -------
    mask : ndarray of bool, shape (12 * nside**2,)
        True in the footprint. ``np.flatnonzero(mask)`` is the ``pixels=``
        argument of the estimators and feature transformers (with the same
        ``nside`` and ``nest``), and ``maps[:, pixels]`` their input.

    Raises
    ------
    ValueError
        If ``survey`` is not one of ``SURVEYS``.
    ImportError
        If a skyproj outline is asked for and skyproj is not installed.
    FileNotFoundError
        If ``"wmap"`` is asked for and healpy's test data are not found.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.datasets import load_survey_mask
    >>> mask = load_survey_mask("des", nside=64, nest=True)
    >>> round(mask.mean() * 41253)  # footprint area in deg²
    5111
    >>> pixels = np.flatnonzero(mask)  # for SphericalCNNClassifier(pixels=...)
    """
    if not isinstance(survey, str) or survey not in SURVEYS:
        raise ValueError(f"survey must be one of {SURVEYS}, got {survey!r}")
    nside = check_nside(nside)
    if not isinstance(nest, (bool, np.bool_)):
        raise TypeError(f"nest must be True or False, got {nest!r}")
    if survey == "wmap":
        mask = _wmap_mask(nside, directory)
    else:
        if directory is not None:
            raise ValueError(f"directory is only used for survey='wmap', not {survey!r}")
        mask = _skyproj_mask(survey, nside)
    if nest:
        mask = hp.reorder(mask.astype(np.int8), r2n=True).astype(bool)
    return mask
