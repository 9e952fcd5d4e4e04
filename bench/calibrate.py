"""How fast this machine runs plain Python right now: one figure to print beside a bench.

    python3 -m bench.calibrate

The same machine's speed varies by the hour (a shared host), so a bench figure taken at one
time compares to another only together with this one.
"""

from __future__ import annotations

import os
import time


def loop_seconds(n: int = 10_000_000) -> float:
    started = time.perf_counter()
    total = 0
    for i in range(n):
        total += i
    return time.perf_counter() - started


def main() -> None:
    print(
        f"calibration: a 10,000,000-iteration Python loop {loop_seconds():.2f} s"
        f" (load average {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main()
