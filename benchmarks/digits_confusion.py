"""Rotated spherical digits with the default FCN: accuracy and confusions (issue 13).

Usage::

    python benchmarks/digits_confusion.py [--nside 8] [--params JSON]

The 1200 unrotated training digits of ``spherical_digits.py`` (nside 8 by
default) train ``SphericalCNNClassifier(augment_rotation=True,
random_state=0)``, every other hyperparameter at its default unless
``--params`` (JSON keyword arguments) sets it; the 597 randomly rotated test
digits are predicted. Prints the fit time and accuracy, the confusion
matrix (rows: true digit, columns: predicted), the number of errors, how
many of them are 6 read as 9 or 9 as 6 (a rotation-invariant model cannot
tell them apart by shape), and the accuracy with those counted as correct.
"""

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from sklearn.metrics import confusion_matrix  # noqa: E402
from spherical_digits import digits_data  # noqa: E402

from skdeepsphere import SphericalCNNClassifier  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nside", type=int, default=8)
    parser.add_argument("--params", default="{}", help="JSON keyword arguments")
    args = parser.parse_args()
    params = json.loads(args.params)
    train, (X_test, y_test) = digits_data(args.nside, 1200)
    X, y = train["N"]
    start = time.perf_counter()
    clf = SphericalCNNClassifier(**{"augment_rotation": True, "random_state": 0, **params})
    clf.fit(X, y)
    print(f"nside {args.nside}, {params or 'defaults'}")
    predicted = clf.predict(X_test)
    print("fit", round(time.perf_counter() - start), "s acc", (predicted == y_test).mean())
    matrix = confusion_matrix(y_test, predicted)
    print(matrix)
    six_nine = ((predicted == 6) & (y_test == 9)) | ((predicted == 9) & (y_test == 6))
    print("errors", (predicted != y_test).sum(), "6<->9", matrix[6, 9] + matrix[9, 6],
          "acc if 6/9 merged", ((predicted == y_test) | six_nine).mean())


if __name__ == "__main__":
    main()
