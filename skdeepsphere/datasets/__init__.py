"""Simulated convergence maps and loaders for the user's own HEALPix maps.

- :func:`make_convergence_maps`: two cosmologies with equal power spectra
  but different non-Gaussian statistics (classification).
- :func:`make_convergence_regression`: tomographic maps whose statistics
  depend on :math:`\\Omega_m` and :math:`\\sigma_8` (regression).
- :func:`make_weak_non_gaussian_maps`: Gaussian versus weakly non-Gaussian
  maps with the same power spectrum (classification beyond the spectrum).
- :func:`make_spherical_digits`: 2-D digits projected onto the sphere and
  randomly rotated (spherical MNIST).
- :func:`make_point_source_maps`: CMB maps with point sources and their
  per-pixel labels (segmentation).
- :func:`make_denoising_maps`: noisy and clean convergence maps
  (map-to-map regression).
- :func:`load_healpix_maps`: FITS files to an array for the estimators.
- :func:`extract_patches`: full-sky maps to DeepSphere's nested patches.
- :func:`ccl_convergence_spectrum`: convergence spectra of a cosmology
  with pyccl (the ``cosmo`` extra), used by ``spectra="ccl"``.
- :func:`load_survey_mask`: real survey footprints (DES, DECaLS, WMAP) as
  HEALPix masks, for partial-sky training with ``pixels=``.
"""

from ._convergence import make_convergence_maps, make_convergence_regression
from ._cosmology import ccl_convergence_spectrum
from ._dense import cmb_spectrum, make_denoising_maps, make_point_source_maps
from ._digits import make_spherical_digits
from ._loaders import load_healpix_maps
from ._masks import load_survey_mask
from ._non_gaussian import make_weak_non_gaussian_maps
from ._patches import extract_patches

__all__ = [
    "make_convergence_maps",
    "make_convergence_regression",
    "make_spherical_digits",
    "make_point_source_maps",
    "make_denoising_maps",
    "cmb_spectrum",
    "make_weak_non_gaussian_maps",
    "load_healpix_maps",
    "extract_patches",
    "load_survey_mask",
    "ccl_convergence_spectrum",
]
