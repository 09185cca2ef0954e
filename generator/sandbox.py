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

Contributor code (recipes and evaluation scripts) also runs in a `Jail` (bubblewrap, `bwrap`):

- no network: a network namespace of its own, with only a loopback that nothing listens on
  (the build machine's listeners, abstract sockets included, are out of reach);
- a file system of its own, read-only: /usr (and /bin, /lib, ... as on the host), the few /etc
  files a dynamic linker and Python need, the build's Python (its prefix and the venv), the paths
  the caller names as readable, an empty /tmp (a tmpfs of TMPFS_MB), a minimal /dev and a /proc of
  its own; writable are only the paths the caller names (a recipe's output folder). The project,
  the cache, the site, /root and /home are not there at all;
- a scrubbed environment (`jail_env`): no variable of the build reaches it but OpenBLAS's kernel
  and torch's kernel choice (JAIL_PASS_THROUGH);
- its own PID namespace: when the command ends (or is killed), every process it started ends with
  it, daemons that called setsid included;
- when the build runs as root, the command runs as user 65534 (nobody) with no capabilities and
  no_new_privs, so RLIMIT_NPROC applies and setuid programs gain nothing;
- rlimits: address space, CPU time, file size (RLIMIT_FSIZE) and, as nobody, process count.

Where bwrap cannot run (`jail_problem` says why), `run` refuses a jailed command with
`SandboxUnavailable`, unless the operator sets MODELSHELF_TRUST_SCRIPTS=1: then the command runs
with the scrubbed environment and the rlimits only, and a warning says so.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import shutil
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

# The user a jailed command runs as when the build is root (nobody), and the trust switch for where bwrap cannot run.
JAIL_UID = 65534
TRUST_VARIABLE = "MODELSHELF_TRUST_SCRIPTS"
TMPFS_MB = 1024  # size of a jail's /tmp
SHM_MB = 256  # size of a jail's /dev/shm
# The build's variables a jail keeps: OpenBLAS's kernel choice changes a trained model's last bits.
JAIL_PASS_THROUGH = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "ATEN_CPU_CAPABILITY")
# /etc files a dynamically linked Python needs (and nothing that names the build machine's secrets).
_ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "passwd", "group", "nsswitch.conf", "alternatives")

# Runs as `python -I -S -c LAUNCHER PEAK_FILE MEMORY_BYTES CPU_SECONDS FILE_BYTES PROCESSES COMMAND...`: limits
# itself (its child inherits the limits), forks and execs the command, writes the child's ru_maxrss (KiB) to
# PEAK_FILE and ends the way the child ended (same exit code, or the same signal). RLIMIT_NPROC counts the
# processes of the real user, and root is exempt: it binds only a command that runs as another user (a jail).
_LAUNCHER = r"""
import os, resource, signal, sys
peak_file, memory, cpu, fsize, nproc = sys.argv[1], *map(int, sys.argv[2:6])
argv = sys.argv[6:]
resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
if cpu > 0:
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
if memory > 0:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
if fsize > 0:
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
if nproc > 0:
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
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
    file_mb: int | None = None  # largest file it may write (RLIMIT_FSIZE; SIGXFSZ past it); None: no limit
    processes: int | None = None  # processes and threads of its user (RLIMIT_NPROC), applied in a jail run as nobody


@dataclass(frozen=True)
class Jail:
    """What a jailed command may see besides the system and the build's Python: no network, and only these paths.

    Each path appears at the same place inside the jail. `readable` paths are mounted read-only,
    `writable` ones read-write (and handed to the jail's user when the build is root).
    """

    readable: tuple[Path, ...] = ()
    writable: tuple[Path, ...] = ()


class SandboxUnavailable(RuntimeError):
    """Raised by `run` for a jailed command when bwrap cannot run here and the operator has not set MODELSHELF_TRUST_SCRIPTS=1."""


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


def jail_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The whole environment of contributor code: a fixed PATH, HOME and TMPDIR in the jail's /tmp, UTF-8, single-threaded pools.

    Of the build's own variables only JAIL_PASS_THROUGH reaches it (choices of numeric kernels, no secrets).
    """
    passed = {name: os.environ[name] for name in JAIL_PASS_THROUGH if name in os.environ}
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            **passed, **SINGLE_THREADED, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1", **(extra or {})}


def trusted_by_operator() -> bool:
    """Whether the operator set MODELSHELF_TRUST_SCRIPTS=1: run contributor code without a jail where bwrap cannot run."""
    return os.environ.get(TRUST_VARIABLE, "").strip().lower() in ("1", "true", "yes")


def python(*args: str) -> list[str]:
    """A command line that runs the build's own Python (`python("-m", "pkg.mod", "DIR")`)."""
    return [sys.executable, *args]


@contextlib.contextmanager
def clean_folder(prefix: str) -> Iterator[Path]:
    """A fresh temporary folder for one child process, removed with everything in it afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def run(argv: Sequence[str], *, cwd: Path, limits: RunLimits, env: Mapping[str, str] | None = None,
        tail_bytes: int = TAIL_BYTES, jail: Jail | None = None) -> RunResult:
    """Run `argv` in `cwd` under `limits` (see the module docstring); never raises for what the command does.

    `env` defaults to `child_env()`, or to `jail_env()` with a `jail`. With a `jail` the command
    runs in bwrap (`cwd` should be inside the jail's paths or under /tmp); raises SandboxUnavailable
    when bwrap cannot run and the operator has not said the code is trusted. Raises OSError only
    when the launcher itself cannot start.
    """
    memory = limits.memory_mb * MB if limits.memory_mb else 0
    cpu = math.ceil(limits.cpu_seconds) if limits.cpu_seconds else 0
    fsize = limits.file_mb * MB if limits.file_mb else 0
    nproc = 0
    if jail is not None:
        env = jail_env() if env is None else env
        problem = jail_problem()
        if problem is None:
            argv = jail_argv(argv, jail, cwd)
            nproc = limits.processes or 0 if os.geteuid() == 0 else 0
        elif trusted_by_operator():
            log.warning("running %s without a sandbox (%s): %s=1 says the code is trusted", argv[-1] if argv else "",
                        problem, TRUST_VARIABLE)
        else:
            raise SandboxUnavailable(f"no sandbox for contributor code: {problem}")
    with tempfile.TemporaryDirectory(prefix="modelshelf-sandbox-") as own, \
            open(Path(own) / "stdout", "w+b") as out, open(Path(own) / "stderr", "w+b") as err:
        peak_file = Path(own) / "peak"
        command = [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(peak_file), str(memory), str(cpu), str(fsize), str(nproc),
                   *argv]
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


class _Mounts:
    """bwrap mount arguments; each destination's missing parents are made first as 0755 (bwrap would make them 0700)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self._bound: list[str] = []
        self._made: set[str] = {"/"}

    def add(self, option: str, src: str, dest: str) -> None:
        self._parents(dest)
        self.args += [option, src, dest] if src else [option, dest]
        self._bound.append(dest)

    def dir(self, dest: str) -> None:
        self._parents(dest)
        if not self._covered(dest):
            self.args += ["--perms", "0755", "--dir", dest]
            self._made.add(dest)

    def _covered(self, path: str) -> bool:
        return path in self._made or any(path == b or path.startswith(b.rstrip("/") + "/") for b in self._bound)

    def _parents(self, dest: str) -> None:
        parts = Path(dest).parts[1:-1]
        for i in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:i])
            if not self._covered(parent):
                self.args += ["--perms", "0755", "--dir", parent]
                self._made.add(parent)


def _system_mounts(mounts: _Mounts) -> None:
    """The system, read-only: /usr, /bin, /lib, ... as the host has them, a few /etc files, the build's Python."""
    mounts.add("--ro-bind", "/usr", "/usr")
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        if os.path.islink(top):
            mounts.add("--symlink", os.readlink(top), top)
        elif os.path.isdir(top):
            mounts.add("--ro-bind", top, top)
    for name in _ETC:
        if os.path.exists(f"/etc/{name}"):
            mounts.add("--ro-bind", f"/etc/{name}", f"/etc/{name}")
    # The build's Python: its installation, and the venv (read-only: site-packages is shared by every build).
    for prefix in sorted({sys.base_prefix, sys.prefix, os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}):
        if not mounts._covered(prefix):
            mounts.add("--ro-bind", prefix, prefix)


def jail_argv(argv: Sequence[str], jail: Jail, cwd: Path) -> list[str]:
    """The command line that runs `argv` in bwrap with only what `jail` names (see the module docstring)."""
    root = os.geteuid() == 0
    bwrap = shutil.which("bwrap") or "bwrap"
    args = [bwrap, "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--as-pid-1", "--die-with-parent", "--new-session", "--hostname", "sandbox"]
    if not root:  # unprivileged bwrap maps the caller to itself in a user namespace, and no more may be made inside
        args += ["--unshare-user", "--disable-userns"]
    mounts = _Mounts()
    # /tmp first: a venv or a jail path under /tmp is mounted over it.
    mounts.args += ["--perms", "1777", "--size", str(TMPFS_MB * MB), "--tmpfs", "/tmp", "--dev", "/dev", "--proc", "/proc",
                    # POSIX semaphores and shared memory (joblib, torch) live in /dev/shm
                    "--perms", "1777", "--size", str(SHM_MB * MB), "--tmpfs", "/dev/shm"]
    mounts._made.update({"/tmp", "/dev", "/proc"})
    _system_mounts(mounts)
    for path in jail.readable:
        mounts.add("--ro-bind", str(path), str(path))
    for path in jail.writable:
        if root:
            os.chown(path, JAIL_UID, JAIL_UID)
        mounts.add("--bind", str(path), str(path))
    mounts.dir(str(cwd))
    args += [*mounts.args, "--chdir", str(cwd), "--"]
    if root:
        # bwrap as root mounts what it must; the command itself runs as nobody, with no capabilities left to regain.
        setpriv = shutil.which("setpriv") or "/usr/bin/setpriv"
        args += [setpriv, f"--reuid={JAIL_UID}", f"--regid={JAIL_UID}", "--clear-groups", "--inh-caps=-all",
                 "--bounding-set=-all", "--no-new-privs", "--"]
    return [*args, *argv]


@functools.lru_cache(maxsize=1)
def jail_problem() -> str | None:
    """Why contributor code cannot be jailed here (None: bwrap works). Tried once per process, with the build's Python."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed (Debian and Ubuntu: apt-get install bubblewrap)"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "setpriv (util-linux) is not installed"
    with tempfile.TemporaryDirectory(prefix="modelshelf-jail-probe-") as tmp:
        argv = jail_argv([sys.executable, "-I", "-c", "import os; open('/tmp/probe', 'w').close()"], Jail(), Path(tmp))
        try:
            proc = subprocess.run(argv, cwd=tmp, env=jail_env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap cannot start: {exc}"
    if proc.returncode != 0:
        last = (proc.stderr.decode("utf-8", "replace").strip().splitlines() or ["no output"])[-1]
        return f"bwrap does not work here: {last}"
    return None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _tail(fh: BinaryIO, limit: int) -> str:
    size = fh.seek(0, os.SEEK_END)
    fh.seek(max(0, size - limit))
    return fh.read().decode("utf-8", "replace")
