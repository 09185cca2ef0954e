"""The sandbox that starts every child process of the build, the one dtype table and the one "did you mean" helper."""
from __future__ import annotations

import json
import time
from pathlib import Path

import onnx

from modelshelf.catalog import SCHEMA_PATH
from modelshelf.catalog.problems import CardReporter, closest
from modelshelf.catalog.runtime.dtypes import DTYPES, by_onnx, card_dtype, feed_dtype
from modelshelf.generator import sandbox
from modelshelf.generator.sandbox import RunLimits


def test_run_reports_exit_code_output_and_peak_memory(tmp_path: Path) -> None:
    code = "import sys; x = bytearray(200 << 20); print('out'); print('err', file=sys.stderr); sys.exit(3)"
    result = sandbox.run(sandbox.python("-c", code), cwd=tmp_path, limits=RunLimits(seconds=30, memory_mb=1024))
    assert (result.returncode, result.timed_out, result.stdout, result.stderr) == (3, False, "out\n", "err\n")
    assert not result.ok
    # The child's own peak, not the build's (which ru_maxrss of a forked child would include).
    assert result.peak_mb is not None and 200 <= result.peak_mb < 400


def test_memory_limit_stops_the_child(tmp_path: Path) -> None:
    limits = RunLimits(seconds=30, memory_mb=1024)
    result = sandbox.run(sandbox.python("-c", "x = bytearray(3 << 30)"), cwd=tmp_path, limits=limits)
    assert result.returncode == 1 and result.tail(1) == ["MemoryError"]


def test_time_limit_kills_the_whole_process_group(tmp_path: Path) -> None:
    """Regression: a grandchild holding stdout open kept subprocess.run waiting after the child was killed."""
    start = time.monotonic()
    result = sandbox.run(["/bin/sh", "-c", "sleep 60 & sleep 60"], cwd=tmp_path, limits=RunLimits(seconds=1))
    assert time.monotonic() - start < 10
    assert result.timed_out and result.signal_name == "SIGKILL"


def test_cpu_limit_counts_as_running_out_of_time(tmp_path: Path) -> None:
    result = sandbox.run(sandbox.python("-c", "while True: pass"), cwd=tmp_path, limits=RunLimits(seconds=30, cpu_seconds=1))
    assert result.timed_out and result.signal_name == "SIGXCPU"


def test_child_gets_a_closed_stdin_and_single_threaded_pools(tmp_path: Path) -> None:
    code = "import json, os, sys; print(json.dumps([sys.stdin.read(), os.environ['OMP_NUM_THREADS'], os.getcwd()]))"
    result = sandbox.run(sandbox.python("-c", code), cwd=tmp_path, limits=RunLimits(seconds=30))
    assert result.ok, result.stderr
    assert json.loads(result.stdout) == ["", "1", str(tmp_path)]


def test_dtype_table_matches_onnx_and_the_card_schema() -> None:
    for d in DTYPES.values():
        assert onnx.helper.tensor_dtype_to_string(d.onnx).removeprefix("TensorProto.").lower() in (d.name, d.onnx_name)
        if d.kind != "string":
            assert onnx.helper.tensor_dtype_to_np_dtype(d.onnx) == d.numpy
        assert by_onnx(d.onnx) is d and card_dtype(d.onnx) == d.name
    assert card_dtype(onnx.TensorProto.BFLOAT16) == "type16"
    assert feed_dtype("string") is object and feed_dtype("int64") == "int64"
    schema = json.loads(Path(SCHEMA_PATH).read_text(encoding="utf-8"))
    enums = [v["enum"] for v in _walk(schema) if isinstance(v, dict) and set(v.get("enum") or ()) >= {"float32", "int64"}]
    assert enums and all(set(e) == set(DTYPES) for e in enums)


def _walk(node: object) -> list[object]:
    out = [node]
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        out += _walk(child)
    return out


def test_closest_name() -> None:
    assert closest("mit ", ["MIT", "Apache-2.0"]) == "MIT"
    assert closest("sklearn/irsi", ["sklearn/iris", "sklearn/wine"]) == "sklearn/iris"
    assert closest("Apache", ["MIT", "Apache-2.0"]) == "Apache-2.0"
    assert closest("zzz", ["MIT"]) is None


def test_card_reporter_without_a_document_points_at_line_one() -> None:
    report = CardReporter(None, "models/acme/x/card.yaml")
    report.add(("inputs", 0, "name"), "bad", "fix it")
    [problem] = report.items
    assert problem.format_text() == "models/acme/x/card.yaml:1:1: $.inputs[0].name: bad\n  hint: fix it"
