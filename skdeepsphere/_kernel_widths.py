"""Provisional kernel widths (replaced by benchmarks/tune_kernel_width.py)."""

KERNEL_WIDTHS = {
    8: {32: 0.25 * 0.0009},
    20: {32: 0.25 * 0.0022},
    40: {32: 0.25 * 0.0045},
}
