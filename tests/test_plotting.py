import matplotlib

matplotlib.use("Agg")

import healpy as hp  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from skdeepsphere.plotting import color_limits, gnomview, mollview, plot_history  # noqa: E402


@pytest.mark.parametrize("values, expected", [
    (np.linspace(-3.87827, 2.0, 101), (-3.9, 3.9)),   # signed: symmetric, rounded up
    (np.linspace(0.0, 0.123, 11), (0.0, 0.13)),
    (np.linspace(-0.0456, -0.0123, 11), (-0.046, -0.012)),
    (np.linspace(1234.0, 5678.0, 11), (1200.0, 5700.0)),
])
def test_color_limits_round_outwards_to_two_digits(values, expected):
    low, high = color_limits(values, percentile=100)
    assert (low, high) == pytest.approx(expected)
    assert low <= values.min() and high >= values.max()


def test_color_limits_ignore_unseen_and_saturate_outliers():
    values = np.append(np.linspace(-1, 1, 1001), [hp.UNSEEN, np.nan, 50.0])
    assert color_limits(values, percentile=99) == (-1.0, 1.0)
    with pytest.raises(ValueError, match="at least one finite value"):
        color_limits([hp.UNSEEN, np.nan])


@pytest.mark.parametrize("draw", [
    lambda m, fig: mollview(m, unit="convergence (signal std)", fig=fig, sub=(1, 2, 1)),
    lambda m, fig: gnomview(m, rot=(0, 0), reso=60, xsize=50,
                            unit="convergence (signal std)", fig=fig, sub=(1, 2, 2)),
])
def test_maps_get_a_colourbar_labelled_with_the_unit(draw):
    fig = plt.figure()
    draw(np.random.default_rng(0).standard_normal(12 * 4**2), fig)
    labels = [ax.get_xlabel() for ax in fig.axes]
    assert "convergence (signal std)" in labels
    colorbar = fig.axes[labels.index("convergence (signal std)")]
    ticks = [t.get_text() for t in colorbar.get_xticklabels()]
    assert all(len(t.replace("\u2212", "-")) <= 5 for t in ticks), ticks
    plt.close(fig)


def test_plot_history_marks_the_best_epoch():
    from skorch.history import History

    history = History()
    for epoch, (train, valid) in enumerate([(0.9, 0.8), (0.6, 0.7), (0.5, 0.75)], 1):
        history.new_epoch()
        history.record("epoch", epoch)
        history.record("train_loss", train)
        history.record("valid_loss", valid)
        history.record("valid_loss_best", epoch in (1, 2))
    ax = plot_history(history)
    best = [line for line in ax.get_lines() if line.get_label().startswith("best")]
    assert best[0].get_xdata()[0] == 2
    plt.close(ax.figure)
