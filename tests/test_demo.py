import csv

from skdeepsphere.demo import main


def test_demo_runs_end_to_end(tmp_path, capsys):
    scores = main(["--nside", "8", "--order", "1", "--n-maps", "6", "--noise", "0.5", "1",
                   "--folds", "2", "--epochs", "1", "--output", str(tmp_path)])
    assert set(scores) == {"DeepSphere FCN", "Histogram + SVM", "PSD + SVM"}
    for per_noise in scores.values():
        assert set(per_noise) == {0.5, 1.0}
        assert all(0 <= accuracy <= 1 for accuracy in per_noise[0.5])
    with open(tmp_path / "demo.csv") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["model", "noise 0.5", "noise 1"] and len(rows) == 4
    assert (tmp_path / "demo.png").stat().st_size > 1000
    assert "DeepSphere FCN" in capsys.readouterr().out
