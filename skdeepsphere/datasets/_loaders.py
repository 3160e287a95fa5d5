"""Read the user's own HEALPix maps from FITS files."""

import numbers
import os

import healpy as hp
import numpy as np
from sklearn.utils._param_validation import Interval, validate_params

from ..healpix import check_nside, npix_to_nside

__all__ = ["load_healpix_maps"]


def _check_field(field):
    """Return ``(field for healpy, whether a channel axis is returned)``."""
    if field is None:
        return None, True
    if isinstance(field, numbers.Integral) and not isinstance(field, bool):
        return int(field), False
    if isinstance(field, str):
        return field, False
    try:
        fields = tuple(field)
    except TypeError:
        raise TypeError(
            "field must be an int, a column name, a sequence of them or None, "
            f"got {field!r}"
        ) from None
    if not fields:
        raise ValueError("field must not be an empty sequence")
    for item in fields:
        if isinstance(item, bool) or not isinstance(item, (numbers.Integral, str)):
            raise TypeError(
                f"field must hold column numbers or names, got {item!r}"
            )
    return fields, True


def _read_one(path, field, nest):
    """Read one file as a 2-D array (n_channels, n_pixels), NaN for UNSEEN."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no HEALPix map file at {path!r}")
    try:
        maps = hp.read_map(path, field=field, nest=nest, dtype=np.float64)
    except (IndexError, KeyError) as error:
        raise ValueError(f"{path!r} has no field {field!r}: {error}") from error
    except Exception as error:
        raise ValueError(
            f"could not read a HEALPix map from {path!r}: {error}"
        ) from error
    maps = np.array(maps, dtype=np.float64, ndmin=2)
    # healpy marks unobserved pixels with UNSEEN; the package uses NaN.
    maps[np.isclose(maps, hp.UNSEEN)] = np.nan
    try:
        npix_to_nside(maps.shape[-1])
    except ValueError:
        raise ValueError(
            f"{path!r} holds {maps.shape[-1]} pixels, not a full sky at a "
            "power-of-2 nside"
        ) from None
    return maps


def _regrade(maps, nside, nest):
    """``healpy.ud_grade`` that maps NaN to UNSEEN and back."""
    order = "NESTED" if nest else "RING"
    filled = np.where(np.isnan(maps), hp.UNSEEN, maps)
    regraded = np.array(
        hp.ud_grade(filled, nside, order_in=order, order_out=order), ndmin=2
    )
    regraded[np.isclose(regraded, hp.UNSEEN)] = np.nan
    return regraded


@validate_params(
    {"paths": [str, bytes, os.PathLike, list, tuple],
     "nside": [Interval(numbers.Integral, 1, None, closed="left"), None],
     "nest": ["boolean"],
     "field": "no_validation",  # numbers, names or lists of them: _check_field
     "dtype": "no_validation"},
    prefer_skip_nested_validation=True,
)
def load_healpix_maps(paths, *, nside=None, nest=False, field=0, dtype=np.float32):
    """Read full-sky HEALPix maps from FITS files into one array.

    Each file is read with :func:`healpy.read_map`, which honours the
    ``ORDERING`` keyword of the file header and converts to the ordering
    asked for by ``nest``, so files written in RING and NESTED ordering can
    be mixed. Unobserved pixels (``healpy.UNSEEN``, and the pixels missing
    from partial-sky files) become NaN.

    Parameters
    ----------
    paths : str, path-like or sequence of them
        The FITS file(s), one sample each.
    nside : int or None, default=None
        Resolution of the returned maps, a power of 2. Maps at another
        resolution are degraded (averaging the children of each pixel, NaN
        children ignored) or upgraded (copying the parent's value) with
        :func:`healpy.ud_grade`. ``None`` keeps the resolution of the files,
        which must then all agree.
    nest : bool, default=False
        Ordering of the returned maps: NESTED if True, RING (healpy's
        default) otherwise, whatever the ordering of the files. Pass the same
        value as ``nest=`` to the estimators.
    field : int, str, sequence of them, or None, default=0
        Column(s) of the FITS table to read. A single column gives maps of
        shape ``(n_pixels,)``; a sequence, or ``None`` for all columns,
        gives channels (e.g. tomographic bins, or I, Q, U), which must be
        equally many in every file.
    dtype : numpy dtype, default=np.float32
        Dtype of the returned array (the estimators compute in float32).

    Returns
    -------
    maps : ndarray of shape (n_files, n_pixels) or (n_files, n_channels, n_pixels)
        One row per file, in the order of ``paths``;
        ``n_pixels = 12 * nside**2``. A channel axis is present when
        ``field`` is a sequence or None.

    Raises
    ------
    FileNotFoundError
        If a path does not exist; the message names it.
    ValueError
        If a file cannot be read as a HEALPix map or lacks ``field`` (the
        message names the file), if its ``nside`` is not a power of 2, or if
        the files disagree in resolution (without ``nside``) or in number of
        channels.
    TypeError
        If ``nest`` is not a bool or ``field`` has the wrong type.

    See Also
    --------
    extract_patches : Cut the maps into DeepSphere's nested patches.
    healpy.write_map : Write maps that this function reads back.

    Examples
    --------
    >>> import os, tempfile
    >>> import healpy as hp
    >>> import numpy as np
    >>> from skdeepsphere.datasets import load_healpix_maps
    >>> ring = np.arange(768.0)  # nside 8, RING ordering
    >>> path = os.path.join(tempfile.mkdtemp(), "map.fits")
    >>> hp.write_map(path, hp.reorder(ring, r2n=True), nest=True)
    >>> maps = load_healpix_maps([path, path])  # back to RING
    >>> maps.shape, maps.dtype, bool(np.array_equal(maps[0], ring))
    ((2, 768), dtype('float32'), True)
    >>> load_healpix_maps(path, nside=4).shape
    (1, 192)
    """
    if nside is not None:
        nside = check_nside(nside)
    field, channels = _check_field(field)
    if isinstance(paths, (str, bytes, os.PathLike)):
        paths = [paths]
    paths = [os.fsdecode(path) for path in paths]
    if not paths:
        raise ValueError("paths must name at least one file")

    maps = []
    for path in paths:
        one = _read_one(path, field, bool(nest))
        if nside is not None and one.shape[-1] != hp.nside2npix(nside):
            one = _regrade(one, nside, bool(nest))
        maps.append(one)

    shapes = {one.shape for one in maps}
    if len(shapes) > 1:
        found = ", ".join(
            f"{path!r}: nside={npix_to_nside(one.shape[-1])}, "
            f"{one.shape[0]} field(s)"
            for path, one in zip(paths, maps)
        )
        raise ValueError(
            "the maps differ in resolution or number of fields (pass nside= "
            f"to regrade them to a common resolution): {found}"
        )
    maps = np.stack(maps).astype(dtype, copy=False)
    return maps if channels else maps[:, 0, :]
