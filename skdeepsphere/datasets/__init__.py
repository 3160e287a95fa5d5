"""Simulated convergence maps and loaders for the user's own HEALPix maps.

- :func:`make_convergence_maps`: two cosmologies with equal power spectra
  but different non-Gaussian statistics (classification).
- :func:`make_convergence_regression`: tomographic maps whose statistics
  depend on :math:`\\Omega_m` and :math:`\\sigma_8` (regression).
- :func:`make_spherical_digits`: 2-D digits projected onto the sphere and
  randomly rotated (spherical MNIST).
- :func:`load_healpix_maps`: FITS files to an array for the estimators.
- :func:`extract_patches`: full-sky maps to DeepSphere's nested patches.
- :func:`ccl_convergence_spectrum`: convergence spectra of a cosmology
  with pyccl (the ``cosmo`` extra), used by ``spectra="ccl"``.
- :func:`load_survey_mask`: real survey footprints (DES, DECaLS, WMAP) as
  HEALPix masks, for partial-sky training with ``pixels=``.
"""

from ._convergence import make_convergence_maps, make_convergence_regression
from ._cosmology import ccl_convergence_spectrum
from ._digits import make_spherical_digits
from ._loaders import load_healpix_maps
from ._masks import load_survey_mask
from ._patches import extract_patches

__all__ = [
    "make_convergence_maps",
    "make_convergence_regression",
    "make_spherical_digits",
    "load_healpix_maps",
    "extract_patches",
    "load_survey_mask",
    "ccl_convergence_spectrum",
]
