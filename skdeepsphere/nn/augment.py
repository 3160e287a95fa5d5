"""Training-time augmentations of map batches (torch tensors)."""

import numpy as np
import torch

from ..healpix import check_nside
from ..rotation import grid_permutations, random_rotations, rotation_resampling

__all__ = ["RandomBatchRotation"]


class RandomBatchRotation:
    """Rotate each map of a torch batch by a fresh uniformly random rotation.

    The training-time augmentation of the estimators
    (``augment_rotation=True``): pixels and weights of the bilinear
    resampling are computed with numpy and healpy
    (:func:`skdeepsphere.rotation.rotation_resampling`, about 2 ms per map at ``nside=16``) and
    applied as one gather on the batch's device.

    With ``rotations="grid"``, each map gets one of the 8 rotations that
    move HEALPix pixels onto pixels (:func:`skdeepsphere.rotation.grid_rotations`),
    drawn uniformly: a permutation, exact. Bilinear resampling smooths:
    at ``nside=64`` it keeps 86 % of a map's power at ell = 60 and 31 % at
    ell = 180 (``benchmarks/rotation_smoothing.py``), so maps rotated
    uniformly have less small-scale signal than the maps a network is later
    asked about.

    Parameters
    ----------
    nside : int
        Resolution of the full-sky, NESTED maps.
    random_state : int, RandomState instance or None, default=None
        Seed of the sequence of rotations (an int or None starts a new
        :class:`numpy.random.RandomState`).
    rotations : {"uniform", "grid"}, default="uniform"
        Uniformly random rotations (bilinear resampling) or the HEALPix
        grid's 8 rotations (exact).

    Examples
    --------
    >>> import torch
    >>> from skdeepsphere.nn import RandomBatchRotation
    >>> rotate = RandomBatchRotation(4, random_state=0)
    >>> rotate(torch.ones(2, 3, 192)).shape
    torch.Size([2, 3, 192])
    """

    def __init__(self, nside, random_state=None, rotations="uniform"):
        self.nside = check_nside(nside)
        if rotations not in ("uniform", "grid"):
            raise ValueError(f"rotations must be 'uniform' or 'grid', got {rotations!r}")
        if not isinstance(random_state, np.random.RandomState):
            random_state = np.random.RandomState(random_state)
        self.random_state = random_state
        self.rotations = rotations

    def __call__(self, maps):
        """Rotate a tensor of shape (batch, channels, 12 * nside**2)."""
        batch, channels, n_pixels = maps.shape
        if self.rotations == "grid":
            choice = self.random_state.randint(8, size=batch)
            pixels = torch.from_numpy(grid_permutations(self.nside, nest=True)[choice])
            return maps.gather(2, pixels.to(maps.device)[:, None].expand(batch, channels,
                                                                         n_pixels))
        rotations = random_rotations(batch, self.random_state)
        pixels, weights = rotation_resampling(self.nside, rotations, nest=True)
        pixels = torch.from_numpy(pixels).to(maps.device).view(batch, 1, 4 * n_pixels)
        weights = torch.from_numpy(weights).to(maps.device, maps.dtype)
        gathered = maps.gather(2, pixels.expand(batch, channels, 4 * n_pixels))
        return (gathered.view(batch, channels, 4, n_pixels) * weights[:, None]).sum(2)
