"""Every child process of the build starts here: recipes, evaluation scripts, smoke runs, evaluations.

Model files, recipes and evaluation scripts are untrusted or at least unreviewed, so the build
never runs them in its own process. `run` starts one command under `RunLimits` and gives back a
`RunResult`:

- a clean temporary folder (`clean_folder`) as working directory, prepared by the caller;
- the build's environment plus single-threaded BLAS and OpenMP and a fixed hash seed
  (`child_env`), so numbers and timings do not depend on the machine's core count;
- an address-space limit (RLIMIT_AS), a CPU-time backstop (RLIMIT_CPU) and no core dumps, set by
  a small launcher process before it executes the command (no `preexec_fn`, which is not safe
  with threads);
- its own session, so the wall-clock limit kills the whole process group with `os.killpg`: a
  grandchild that still holds stdout cannot stall the build, and nothing is left running;
- stdin closed (`/dev/null`), stdout and stderr written to files, of which the tail is kept;
- the command's peak resident memory. The launcher reports the `ru_maxrss` of its own child:
  `os.wait4` in the build itself would report at least the build's own peak, because Linux
  carries the parent's peak over a fork and exec.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

MB = 1 << 20
TAIL_BYTES = 64 * 1024
# Variables that pin thread pools to one thread: BLAS (OpenBLAS, MKL, Accelerate), OpenMP (torch, onnxruntime's
# default pool) and numexpr.
SINGLE_THREADED = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                   "VECLIB_MAXIMUM_THREADS": "1", "NUMEXPR_NUM_THREADS": "1"}

# Runs as `python -I -S -c LAUNCHER PEAK_FILE MEMORY_BYTES CPU_SECONDS COMMAND...`: limits itself (its child
# inherits the limits), forks and execs the command, writes the child's ru_maxrss (KiB) to PEAK_FILE and
# ends the way the child ended (same exit code, or the same signal).
_LAUNCHER = r"""
import os, resource, signal, sys
peak_file, memory, cpu, argv = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if cpu > 0:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
if memory > 0:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    except OSError as exc:
        os.write(2, f"cannot run {argv[0]}: {exc}\n".encode())
    os._exit(127)
_, status, usage = os.wait4(pid, 0)
with open(peak_file, "w") as fh:
    fh.write(str(usage.ru_maxrss))
if os.WIFSIGNALED(status):
    signal.signal(os.WTERMSIG(status), signal.SIG_DFL)
    os.kill(os.getpid(), os.WTERMSIG(status))
sys.exit(os.waitstatus_to_exitcode(status))
"""


@dataclass(frozen=True)
class RunLimits:
    """What one child process may cost the build machine."""

    seconds: float  # wall clock; the whole process group is killed when it runs out
    memory_mb: int | None = None  # address space (RLIMIT_AS) of each process; None: no limit
    cpu_seconds: float | None = None  # CPU time of each process (RLIMIT_CPU), a backstop if the build itself dies


@dataclass(frozen=True)
class RunResult:
    """How a child process ended. `returncode` is negative when a signal ended it, as in `subprocess`."""

    returncode: int
    timed_out: bool  # it ran out of wall-clock or CPU time, and was killed
    seconds: float  # wall clock
    peak_mb: float | None  # peak resident memory of the command (None if it did not report, e.g. when killed)
    stdout: str  # the last TAIL_BYTES (or tail_bytes) of each stream, decoded as UTF-8
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out

    @property
    def signal_name(self) -> str | None:
        """"SIGSEGV" and the like when a signal ended the process."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return f"signal {-self.returncode}"

    def tail(self, lines: int) -> list[str]:
        """The last `lines` lines of stderr, or of stdout when stderr is empty."""
        return (self.stderr.strip() or self.stdout.strip()).splitlines()[-lines:]


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The build's environment plus single-threaded thread pools, a fixed hash seed and no bytecode files."""
    return {**os.environ, **SINGLE_THREADED, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", **(extra or {})}


def python(*args: str) -> list[str]:
    """A command line that runs the build's own Python (`python("-m", "pkg.mod", "DIR")`)."""
    return [sys.executable, *args]


@contextlib.contextmanager
def clean_folder(prefix: str) -> Iterator[Path]:
    """A fresh temporary folder for one child process, removed with everything in it afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def run(argv: Sequence[str], *, cwd: Path, limits: RunLimits, env: Mapping[str, str] | None = None,
        tail_bytes: int = TAIL_BYTES) -> RunResult:
    """Run `argv` in `cwd` under `limits` (see the module docstring); never raises for what the command does.

    `env` defaults to `child_env()`. Raises OSError only when the launcher itself cannot start.
    """
    memory = limits.memory_mb * MB if limits.memory_mb else 0
    cpu = math.ceil(limits.cpu_seconds) if limits.cpu_seconds else 0
    with tempfile.TemporaryDirectory(prefix="modelshelf-sandbox-") as own, \
            open(Path(own) / "stdout", "w+b") as out, open(Path(own) / "stderr", "w+b") as err:
        peak_file = Path(own) / "peak"
        command = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(peak_file), str(memory), str(cpu), *argv]
        start = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=dict(env) if env is not None else child_env(),
                                stdin=subprocess.DEVNULL, stdout=out, stderr=err, start_new_session=True)
        timed_out = False
        try:
            proc.wait(timeout=limits.seconds)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc.pid)
            proc.wait()
        except BaseException:  # KeyboardInterrupt included: a child in its own session would outlive the build
            _kill_group(proc.pid)
            proc.wait()
            raise
        seconds = time.perf_counter() - start
        # Whatever the command left behind in its group (daemons, stuck grandchildren) goes too.
        _kill_group(proc.pid)
        returncode = proc.returncode
        if returncode == -signal.SIGXCPU:
            timed_out = True
        peak = None
        with contextlib.suppress(OSError, ValueError):
            peak = round(int(peak_file.read_text()) / 1024, 1)
        result = RunResult(returncode, timed_out, seconds, peak, _tail(out, tail_bytes), _tail(err, tail_bytes))
    log.debug("ran %s: exit %s%s, %.2f s, peak %s MB", argv[-1] if argv else "", returncode,
              " (timed out)" if timed_out else "", seconds, peak)
    return result


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(fh: BinaryIO, limit: int) -> str:
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - limit))
    return fh.read().decode("utf-8", "replace")
