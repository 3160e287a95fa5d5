import csv

import numpy as np

from skdeepsphere.demo import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    scores = main(["--nside", "8", "--patch-nside", "1", "--n-maps", "6", "--noise", "0.5", "1",
                   "--folds", "2", "--epochs", "1", "--output", str(tmp_path)])
    assert set(scores) == {"DeepSphere FCN", "Histogram + SVM", "PSD + SVM"}
    for per_noise in scores.values():
        assert set(per_noise) == {0.5, 1.0}
        # 2 folds of 3 maps of 12 patches: accuracies are multiples of 1/36
        accuracies = np.array(per_noise[0.5] + per_noise[1.0])
        assert len(accuracies) == 4
        np.testing.assert_allclose(accuracies * 36, np.round(accuracies * 36), atol=1e-9)
    with open(tmp_path / "demo.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["model", "noise 0.5", "noise 1"] and len(rows) == 4
    # the table holds the mean accuracy over the folds
    for name, *cells in rows[1:]:
        assert cells == [f"{np.mean(scores[name][noise]):.3f}" for noise in (0.5, 1.0)]
    assert (tmp_path / "demo.png").stat().st_size > 1000
    assert "DeepSphere FCN" in capsys.readouterr().out
