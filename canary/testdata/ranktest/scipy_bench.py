# Times SciPy's asymptotic Mann-Whitney U test (U and p only) on 2 x 100,000
# log-normal samples like BenchmarkRankTest/n=100000's; the best of 5 runs.
# Run with Debian's python3-scipy: /usr/bin/python3 canary/testdata/ranktest/scipy_bench.py
import time

import numpy as np
import scipy
from scipy.stats import mannwhitneyu

rng = np.random.default_rng(7)
n = 100_000
x = 100 * np.exp(0.5 * rng.standard_normal(n) + 0.02)
y = 100 * np.exp(0.5 * rng.standard_normal(n))
best = float("inf")
for _ in range(5):
    t0 = time.perf_counter()
    mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")
    best = min(best, time.perf_counter() - t0)
print(f"scipy {scipy.__version__} mannwhitneyu asymptotic 2 x {n}: {best * 1e3:.1f} ms (best of 5)")
