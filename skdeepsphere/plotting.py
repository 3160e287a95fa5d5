"""Figures of HEALPix maps and training curves, ready to publish.

Thin wrappers of :func:`healpy.mollview` and :func:`healpy.gnomview` that
always draw a colourbar with a unit, with colour limits rounded to two
significant digits (so that the colourbar reads ``-2.5 ... 2.5``, not
``-3.87827``), and a plot of a skorch training history. matplotlib is an
optional dependency (the ``plots`` extra); it is imported when a function of
this module is called.
"""

import numpy as np

__all__ = ["color_limits", "mollview", "gnomview", "plot_history"]


def color_limits(values, *, percentile=99.0, symmetric=None):
    """Colour limits that cover most values, rounded to two significant digits.

    Parameters
    ----------
    values : array-like
        Pixel values; ``healpy.UNSEEN`` and non-finite values are ignored.
    percentile : float, default=99.0
        The limits cover this percentage of the values (the rest saturate),
        so that a few extreme pixels do not wash out the map.
    symmetric : bool or None, default=None
        Limits ``(-a, a)`` around zero, for signed fields (with a diverging
        colour map). ``None``: symmetric when the values change sign.

    Returns
    -------
    vmin, vmax : float
        The rounded limits.

    Examples
    --------
    >>> import numpy as np
    >>> from skdeepsphere.plotting import color_limits
    >>> color_limits(np.linspace(-3.87827, 2.0, 101), percentile=100)
    (-3.9, 3.9)
    >>> color_limits(np.linspace(0.0, 0.123, 11), percentile=100)
    (0.0, 0.13)
    """
    values = np.asarray(values, dtype=float).ravel()
    values = values[np.isfinite(values) & (values != -1.6375e30)]
    if values.size == 0:
        raise ValueError("color_limits needs at least one finite value.")
    tail = (100.0 - percentile) / 2
    low, high = np.percentile(values, [tail, 100.0 - tail])
    if symmetric is None:
        symmetric = low < 0 < high
    if symmetric:
        bound = _round_up(max(abs(low), abs(high)))
        return (-bound, bound)
    return (_round_down(low), _round_up(high))


def _round_up(value):
    """``value`` rounded up (towards plus infinity) to two significant digits."""
    if value == 0:
        return 0.0
    scale = 10.0 ** (np.floor(np.log10(abs(value))) - 1)
    return float(np.round(np.ceil(value / scale - 1e-9) * scale, 12))


def _round_down(value):
    """``value`` rounded down (towards minus infinity) to two significant digits."""
    return -_round_up(-value) + 0.0  # + 0.0 turns -0.0 into 0.0


def _limits(values, vmin, vmax, symmetric):
    if vmin is None or vmax is None:
        low, high = color_limits(values, symmetric=symmetric)
        vmin = low if vmin is None else vmin
        vmax = high if vmax is None else vmax
    return vmin, vmax


def mollview(map_, *, unit, title="", fig=None, sub=None, nest=False, cmap=None,
             vmin=None, vmax=None, symmetric=None, **kwargs):
    """A HEALPix map in the Mollweide projection, with a colourbar and its unit.

    Parameters
    ----------
    map_ : array-like of shape (n_pixels,)
        A full-sky map; pixels set to ``healpy.UNSEEN`` (unobserved) are
        drawn in grey.
    unit : str
        What the colours measure, written under the colourbar, e.g.
        ``"convergence (signal std)"`` or ``"temperature [mK]"``.
    title : str, default=""
        Title above the map.
    fig : int or matplotlib.figure.Figure, default=None
        The figure to draw into (its number or itself); ``None``: a new one.
    sub : tuple of 3 int, default=None
        ``(rows, columns, index)`` of the panel in ``fig``, as in
        :func:`matplotlib.pyplot.subplot`.
    nest : bool, default=False
        Whether ``map_`` is in the NESTED ordering.
    cmap : str, default=None
        Colour map; ``None``: ``"RdBu_r"`` for symmetric limits, else
        ``"viridis"``.
    vmin, vmax : float, default=None
        Colour limits; ``None``: from :func:`color_limits`.
    symmetric : bool or None, default=None
        Passed to :func:`color_limits`.
    **kwargs
        Passed to :func:`healpy.mollview` (e.g. ``xsize``, ``margins``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdeepsphere.plotting import mollview
    >>> rng = np.random.default_rng(0)
    >>> mollview(rng.standard_normal(12 * 4**2), unit="signal std",
    ...          title="white noise, nside = 4")
    """
    import healpy as hp

    vmin, vmax = _limits(map_, vmin, vmax, symmetric)
    if cmap is None:
        cmap = "RdBu_r" if vmin == -vmax else "viridis"
    fig = _figure_number(fig)
    # room under the colourbar for its unit
    kwargs.setdefault("margins", (0.01, 0.07, 0.01, 0.05))
    before = _axes_now()
    hp.mollview(np.asarray(map_), nest=nest, fig=fig, sub=sub, title=title,
                unit="", cmap=cmap, min=vmin, max=vmax, cbar=True,
                format="%.3g", **kwargs)
    _label_colorbar(before, unit)


def gnomview(map_, *, rot, unit, title="", fig=None, sub=None, nest=False,
             cmap=None, vmin=None, vmax=None, symmetric=None, **kwargs):
    """A zoom on a HEALPix map (gnomonic projection), with a colourbar and unit.

    Parameters
    ----------
    map_ : array-like of shape (n_pixels,)
        A full-sky map (``healpy.UNSEEN`` outside the observed pixels).
    rot : tuple of 2 float
        Longitude and latitude of the centre, in degrees.
    unit, title, fig, sub, nest, cmap, vmin, vmax, symmetric
        As in :func:`mollview`.
    **kwargs
        Passed to :func:`healpy.gnomview` (e.g. ``reso`` in arcminutes per
        image pixel, ``xsize``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skdeepsphere.plotting import gnomview
    >>> gnomview(np.arange(12 * 8**2, dtype=float), rot=(0, 0), unit="pixel index",
    ...          reso=60, xsize=100)
    """
    import healpy as hp

    vmin, vmax = _limits(map_, vmin, vmax, symmetric)
    if cmap is None:
        cmap = "RdBu_r" if vmin == -vmax else "viridis"
    fig = _figure_number(fig)
    # room under the colourbar for its unit
    kwargs.setdefault("margins", (0.01, 0.07, 0.01, 0.05))
    before = _axes_now()
    hp.gnomview(np.asarray(map_), rot=rot, nest=nest, fig=fig, sub=sub, title=title,
                unit="", cmap=cmap, min=vmin, max=vmax, cbar=True,
                format="%.3g", notext=True, **kwargs)
    _label_colorbar(before, unit)


def _axes_now():
    import matplotlib.pyplot as plt

    return set(plt.gcf().axes) if plt.get_fignums() else set()


def _label_colorbar(before, unit):
    """Write ``unit`` under the ticks of the colourbar healpy just drew.

    healpy writes the unit between the two tick labels, where a long unit
    overlaps them; a label below the ticks never does.
    """
    import matplotlib.pyplot as plt

    new = [ax for ax in plt.gcf().axes if ax not in before]
    colorbar = new[-1]  # healpy adds the map's axes, then the colourbar's
    colorbar.set_xlabel(unit, labelpad=2)


def _figure_number(fig):
    """healpy wants a figure number; accept a Figure too."""
    if fig is None or isinstance(fig, (int, np.integer)):
        return fig
    return fig.number


def plot_history(history, *, ax=None, metric="loss", ylabel=None, title=None):
    """Training and validation curves of a fitted estimator's skorch history.

    Parameters
    ----------
    history : skorch.history.History or estimator
        ``estimator.net_.history``, or a fitted estimator of this package
        (its ``net_.history`` is used).
    ax : matplotlib.axes.Axes, default=None
        Where to draw; ``None``: a new figure with constrained layout.
    metric : str, default="loss"
        The curves ``train_<metric>`` and, when recorded (early stopping or
        a validation split), ``valid_<metric>``; the epoch of the lowest
        validation loss (the weights kept) is marked.
    ylabel : str, default=None
        Label of the vertical axis; ``None``: ``metric``.
    title : str, default=None
        Title of the panel.

    Returns
    -------
    ax : matplotlib.axes.Axes
        The panel.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skorch.history import History
    >>> from skdeepsphere.plotting import plot_history
    >>> history = History()
    >>> for epoch, (train, valid) in enumerate([(0.9, 0.8), (0.6, 0.7), (0.5, 0.75)], 1):
    ...     history.new_epoch()
    ...     history.record("epoch", epoch)
    ...     history.record("train_loss", train)
    ...     history.record("valid_loss", valid)
    ...     history.record("valid_loss_best", valid == 0.7 or epoch == 1)
    >>> ax = plot_history(history, ylabel="cross-entropy")
    >>> [line.get_label() for line in ax.get_lines()]
    ['training', 'validation', 'best epoch (weights kept)']
    """
    import matplotlib.pyplot as plt

    if hasattr(history, "net_"):
        history = history.net_.history
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    epochs = history[:, "epoch"]
    ax.plot(epochs, history[:, f"train_{metric}"], "o-", label="training")
    rows = history[:, f"valid_{metric}"] if f"valid_{metric}" in history[-1] else None
    if rows is not None:
        ax.plot(epochs, rows, "s-", label="validation")
        if "valid_loss_best" in history[-1]:
            best = [e for e, is_best in zip(epochs, history[:, "valid_loss_best"]) if is_best]
            if best:
                ax.axvline(best[-1], color="0.6", ls="--", lw=1,
                           label="best epoch (weights kept)")
    ax.set(xlabel="epoch", ylabel=ylabel or metric)
    if title:
        ax.set_title(title)
    ax.legend()
    return ax
