"""CPU latency of one inference: onnxruntime, one thread, batch size 1, median and p95 over timed runs.

The numbers describe the machine that ran the build, and pages say so.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

WARMUP = 5
RUNS = 50
BUDGET_SECONDS = 3.0
MIN_RUNS = 5


def session(path: Path) -> Any:
    """An onnxruntime CPU session pinned to one thread (how latency is measured, and how evaluation runs)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p95_ms: float
    runs: int
    input_from: str  # "a test row", "the first example" or "zeros"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> dict[str, Any]:
        """The JSON form for catalog.json (4 significant digits; the rest is noise)."""
        return {"median_ms": float(f"{self.median_ms:.4g}"), "p95_ms": float(f"{self.p95_ms:.4g}"), "runs": self.runs,
                "batch_size": 1, "threads": 1, "input": self.input_from, "measured_on": "the build machine"}

    @property
    def median_text(self) -> str:
        return ms_text(self.median_ms)

    @property
    def p95_text(self) -> str:
        return ms_text(self.p95_ms)


def ms_text(value: float) -> str:
    """Milliseconds as people read them: µs below 1 ms, three significant digits or so above."""
    if value < 1:
        return f"{value * 1000:.1f} µs"
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def measure(sess: Any, feeds: dict[str, np.ndarray], *, input_from: str, runs: int = RUNS,
            budget_seconds: float = BUDGET_SECONDS, warmup: int = WARMUP) -> Latency:
    """Warm up, then time up to `runs` single inferences, stopping early (after MIN_RUNS) when the budget is spent."""
    for _ in range(warmup):
        sess.run(None, feeds)
    times: list[float] = []
    deadline = time.perf_counter() + budget_seconds
    while len(times) < runs:
        start = time.perf_counter()
        sess.run(None, feeds)
        end = time.perf_counter()
        times.append((end - start) * 1000.0)
        if end > deadline and len(times) >= MIN_RUNS:
            break
    arr = np.asarray(times)
    return Latency(float(np.median(arr)), float(np.percentile(arr, 95)), len(times), input_from)
