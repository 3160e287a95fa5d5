import csv

import numpy as np

from skdeepsphere.demo import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    scores = main(["--nside", "8", "--patch-nside", "1", "--n-maps", "6", "--noise", "0.5", "1",
                   "--folds", "2", "--epochs", "1", "--output", str(tmp_path)])
    assert set(scores) == {"DeepSphere FCN", "Histogram + SVM", "Multi-scale histogram + SVM",
                           "PSD + SVM"}
    for per_noise in scores.values():
        assert set(per_noise) == {0.5, 1.0}
        # 2 folds of 3 maps of 12 patches: accuracies are multiples of 1/36
        accuracies = np.array(per_noise[0.5] + per_noise[1.0])
        assert len(accuracies) == 4
        np.testing.assert_allclose(accuracies * 36, np.round(accuracies * 36), atol=1e-9)
    with open(tmp_path / "demo.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["model", "noise 0.5", "noise 1"] and len(rows) == 5
    # the table holds the mean accuracy over the folds
    for name, *cells in rows[1:]:
        assert cells == [f"{np.mean(scores[name][noise]):.3f}" for noise in (0.5, 1.0)]
    assert (tmp_path / "demo.png").stat().st_size > 1000
    assert "DeepSphere FCN" in capsys.readouterr().out


def test_markdown_report_computes_its_words():
    from skdeepsphere.demo import markdown_report

    scores = {"DeepSphere FCN": {0.5: [0.9, 0.8], 2.0: [0.7]},
              "Histogram + SVM": {0.5: [0.95], 2.0: [0.6]},
              "PSD + SVM": {0.5: [0.5], 2.0: [0.9]}}
    text = markdown_report(scores, [0.5, 2.0], n_maps=4, nside=8, patch_nside=1, n_patches=48,
                           n_pixels=64, n_folds=2, seconds=3.0)
    assert "| DeepSphere FCN  | 0.850     | 0.700   |" in text
    assert ("At noise 2 DeepSphere does not beat the strongest baseline, PSD + SVM "
            "(0.700 vs 0.900)") in text
    assert ("at noise 0.5 it does not beat the strongest, Histogram + SVM "
            "(0.850 vs 0.950)") in text
    assert "ours at noise 2 is +10.0 points" in text
    # 0.5 + 3 * 0.5 / sqrt(48) = 0.717: the PSD SVM's 0.9 at noise 2 is above
    assert "above chance at noise 2 (" in text and "= 0.717" in text
