"""Markdown table of a ``run.py --json`` file: ``python benchmarks/table.py PATH``."""

import json
import sys

KEYS = {
    "laplacian_apply_bandwidth_fraction": ["torch_sparse_fraction", "scipy_csr_fraction",
                                           "fresh_output_fraction",
                                           "chebyshev_step_fraction", "first_call_seconds"],
    "chebconv_speedup_vs_torch_sparse": ["seconds_ours", "seconds_textbook", "shape"],
}


def main(path):
    results = json.loads(open(path).read())
    print("| figure | value | unit | target | details |")
    print("|---|---|---|---|---|")
    for name, figure in results.items():
        value = figure["value"]
        shown = f"{value:.3g}" if isinstance(value, float) else value
        if name.startswith("fit_throughput"):
            keys = ["textbook_maps_per_s", "ratio_vs_textbook", "n_maps", "batch_size"]
        elif name.startswith("peak_rss"):
            keys = ["textbook_mb"]
        elif name == "psd_features_speedup_n_jobs2":
            keys = ["seconds_ours", "seconds_loop", "nside", "n_maps"]
        elif name == "machine":
            keys = ["device", "threads", "torch", "quick"]
        else:
            keys = KEYS.get(name, [k for k in figure if k not in ("value", "unit", "target")])
        details = ", ".join(
            f"{k}={figure[k]:.3g}" if isinstance(figure[k], float)
            else f"{k}={[round(v, 3) for v in figure[k]]}" if isinstance(figure[k], list)
            else f"{k}={figure[k]}"
            for k in keys if k in figure)
        target = figure.get("target")
        print(f"| `{name}` | {shown} | {figure['unit']} | {'' if target is None else target} "
              f"| {details} |")


if __name__ == "__main__":
    main(sys.argv[1])
