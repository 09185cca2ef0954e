"""The sandbox that starts every child process of the build, the one dtype table and the one "did you mean" helper."""
from __future__ import annotations

import errno
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import onnx
import pytest

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


# ---------------------------------------------------------------- the jail of contributor code (issue 12, class 2)

needs_jail = pytest.mark.skipif(sandbox.jail_problem() is not None and not os.environ.get("CI"),
                                reason=f"no sandbox here: {sandbox.jail_problem()}")


def _jailed(tmp_path: Path, code: str, **limits: Any) -> tuple[sandbox.RunResult, Path]:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    result = sandbox.run(sandbox.python("-c", code, str(out)), cwd=tmp_path,
                         limits=RunLimits(seconds=limits.pop("seconds", 30), **limits), jail=sandbox.Jail(writable=(out,)))
    return result, out


@needs_jail
def test_jail_hides_files_outside_its_paths_and_the_build_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: a recipe read files outside its folder and the build's environment variables."""
    (tmp_path / "secret").write_text("s3cret")
    monkeypatch.setenv("MODELSHELF_TEST_TOKEN", "s3cret")
    code = f"""import json, os, sys
seen = []
for p in [{str(tmp_path / 'secret')!r}, {str(Path(__file__).resolve())!r}, "/etc/shadow", "/root/.bashrc"]:
    try:
        open(p).read(); seen.append(p)
    except OSError:
        pass
print(json.dumps([seen, "MODELSHELF_TEST_TOKEN" in os.environ, sorted(os.environ)]))"""
    result, _ = _jailed(tmp_path, code)
    assert result.ok, result.stderr
    seen, token, names = json.loads(result.stdout)
    assert seen == [] and token is False
    assert set(names) <= {"PATH", "HOME", "TMPDIR", "LANG", "LC_ALL", "PWD", "PYTHONHASHSEED", "PYTHONDONTWRITEBYTECODE",
                          *sandbox.SINGLE_THREADED, *sandbox.JAIL_PASS_THROUGH}


@needs_jail
def test_jail_has_no_network(tmp_path: Path) -> None:
    """Regression: a recipe sent what it read to a listener on the build machine."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        server.settimeout(0.5)
        code = f"""import socket
try:
    socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=3).sendall(b"stolen")
    print("sent")
except OSError as exc:
    print(type(exc).__name__)"""
        result, _ = _jailed(tmp_path, code)
        with pytest.raises(TimeoutError):
            server.accept()
    assert result.stdout.strip() == "ConnectionRefusedError"


@needs_jail
def test_jail_writes_only_its_output_folder(tmp_path: Path) -> None:
    """Regression: a recipe wrote outside its output folder."""
    (tmp_path / "index.html").write_text("site")
    code = f"""import os, sys
for p in [{str(tmp_path / 'index.html')!r}, {str(tmp_path / 'new')!r}, os.path.join(sys.argv[1], "model.onnx")]:
    try:
        open(p, "w").write("x"); print("wrote", os.path.basename(p))
    except OSError as exc:
        print("refused", os.path.basename(p))"""
    result, out = _jailed(tmp_path, code)
    assert result.stdout.splitlines() == ["refused index.html", "refused new", "wrote model.onnx"]
    assert (tmp_path / "index.html").read_text() == "site" and not (tmp_path / "new").exists()
    assert (out / "model.onnx").read_text() == "x"


@needs_jail
def test_jail_ends_every_process_the_command_started(tmp_path: Path) -> None:
    """Regression: a recipe left a daemon (double fork, setsid) that changed the site after "site written"."""
    code = """import os, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        time.sleep(1)
        open(os.path.join(sys.argv[1], "late"), "w").write("daemon")
    os._exit(0)
print("parent done")"""
    start = time.monotonic()
    result, out = _jailed(tmp_path, code)
    assert result.ok and time.monotonic() - start < 10
    time.sleep(2)
    assert not (out / "late").exists(), "the daemon outlived the jail"


@needs_jail
def test_jail_limits_file_size_processes_memory_and_reports_peak(tmp_path: Path) -> None:
    code = """import json, os, resource, sys
out = {}
try:
    with open(os.path.join(sys.argv[1], "big"), "wb") as fh:
        fh.seek(20 << 20); fh.write(b"x")
except OSError as exc:
    out["file"] = exc.errno
kids = []
try:
    for _ in range(100):
        pid = os.fork()
        if pid == 0:
            os.read(os.open("/dev/zero", 0), 1) and __import__("time").sleep(5); os._exit(0)
        kids.append(pid)
except OSError as exc:
    out["fork"] = [exc.errno, len(kids)]
for pid in kids:
    os.kill(pid, 9)
x = bytearray(200 << 20)
try:
    y = bytearray(2 << 30)
except MemoryError:
    out["memory"] = "MemoryError"
print(json.dumps(out))"""
    result, _ = _jailed(tmp_path, code, memory_mb=1024, file_mb=10, processes=20)
    assert result.ok, result.stderr
    found = json.loads(result.stdout)
    assert found["file"] == errno.EFBIG and found["memory"] == "MemoryError"
    if os.geteuid() == 0:  # RLIMIT_NPROC counts the jail's own user (nobody) only when the build is root
        assert found["fork"][0] == errno.EAGAIN and found["fork"][1] < 20
    assert result.peak_mb is not None and 200 <= result.peak_mb < 400


def test_without_a_sandbox_contributor_code_runs_only_when_trusted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on PATH
    monkeypatch.delenv(sandbox.TRUST_VARIABLE, raising=False)
    sandbox.jail_problem.cache_clear()
    try:
        with pytest.raises(sandbox.SandboxUnavailable) as err:
            _jailed(tmp_path, "print('ran')")
        assert str(err.value) == ("no sandbox for contributor code: bwrap is not installed "
                                  "(Debian and Ubuntu: apt-get install bubblewrap)")
        monkeypatch.setenv(sandbox.TRUST_VARIABLE, "1")
        result, _ = _jailed(tmp_path, "import os; print(os.environ.get('MODELSHELF_TRUST_SCRIPTS'))")
        assert result.ok and result.stdout == "None\n", "trusted code still gets the scrubbed environment"
    finally:
        sandbox.jail_problem.cache_clear()
