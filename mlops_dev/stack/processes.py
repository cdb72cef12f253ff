"""Process plumbing: every component runs in its own session (process group) with its PID under
`$CT_HOME/run/`, so that stopping it stops its children too; health checks over HTTP; memory
as the PSS of the whole group."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from mlops_dev.stack.config import StackConfig, StackError

Echo = Callable[[str], None]
BIN = Path(sys.executable).parent  # the venv's airflow, mlflow and moto_server
# What the stack's processes create (task logs, databases, objects) is their owner's alone.
PRIVATE_UMASK = 0o077


@dataclass(frozen=True)
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    healthy: Callable[[], bool]


# The components this process started, by PID: held so that none is garbage-collected while
# it runs (Popen warns then), and reaped once it has stopped (no zombies in a long-lived
# process such as a test session that restarts components).
_children: dict[int, subprocess.Popen[bytes]] = {}


def start(cfg: StackConfig, comp: Component, echo: Echo) -> None:
    """Start the component in a session of its own, unless it is already running."""
    if alive(cfg, comp.name):
        echo(f"{comp.name}: already running")
        return
    _reap()
    with open_log(cfg, comp.name) as log:  # the child has its own copy
        proc = subprocess.Popen(comp.argv, env={**os.environ, **comp.env}, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True, cwd=cfg.home, umask=PRIVATE_UMASK)
    _children[proc.pid] = proc
    (cfg.run_dir / f"{comp.name}.pid").write_text(str(proc.pid))
    echo(f"{comp.name}: started (pid {proc.pid}, log {cfg.log_dir / comp.name}.log)")


def run_logged(cfg: StackConfig, name: str, argv: list[str], env: dict[str, str]) -> None:
    """Run a one-off command to completion, its output in the stack's logs."""
    with open_log(cfg, name) as log:
        rc = subprocess.run(argv, env={**os.environ, **env}, stdout=log,
                            stderr=subprocess.STDOUT, cwd=cfg.home,
                            umask=PRIVATE_UMASK).returncode
    if rc != 0:
        raise StackError(f"{name} failed ({rc}); see {cfg.log_dir / name}.log")


def open_log(cfg: StackConfig, name: str) -> BinaryIO:
    """A component's log for appending, readable by its owner only (mode 600, and the folder
    700): a log may hold what a process chose to print, a generated password included."""
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    cfg.log_dir.chmod(0o700)
    fd = os.open(cfg.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)  # logs from before this rule were 644
    return os.fdopen(fd, "ab")


def wait_healthy(cfg: StackConfig, comps: Iterable[Component], timeout: float) -> None:
    """Until every component answers its health check; fail early if one of them exits."""
    deadline = time.monotonic() + timeout
    pending = list(comps)
    while pending:
        for comp in list(pending):
            if not alive(cfg, comp.name):
                tail = _tail(cfg.log_dir / f"{comp.name}.log")
                raise StackError(f"{comp.name} exited during start-up; log tail:\n{tail}")
            if safe(comp.healthy):
                pending.remove(comp)
        if pending and time.monotonic() > deadline:
            names = ", ".join(c.name for c in pending)
            raise StackError(f"not healthy after {timeout:.0f}s: {names}; logs in {cfg.log_dir}")
        if pending:
            time.sleep(1)


def stop_all(cfg: StackConfig, echo: Echo, grace: float) -> None:
    """SIGTERM every recorded process group; SIGKILL whatever outlives the grace period."""
    pids = {p.stem: int(p.read_text()) for p in sorted(cfg.run_dir.glob("*.pid"))}
    for name, pid in pids.items():
        if pid_alive(pid):
            echo(f"stopping {name} (pgid {pid})")
            _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(_group_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.3)
    for name, pid in pids.items():
        if _group_alive(pid):
            echo(f"{name} ignored SIGTERM; killing")
            _signal_group(pid, signal.SIGKILL)
        (cfg.run_dir / f"{name}.pid").unlink(missing_ok=True)
    _reap(wait_for=set(pids.values()))


def _reap(wait_for: frozenset[int] | set[int] = frozenset()) -> None:
    """Forget the children that have exited (collecting their exit status); wait a little for
    those in `wait_for`, which were just signalled."""
    for pid, child in list(_children.items()):
        try:
            exited = child.wait(timeout=5) if pid in wait_for else child.poll()
        except subprocess.TimeoutExpired:
            continue
        if exited is not None:
            del _children[pid]


def alive(cfg: StackConfig, name: str) -> bool:
    pid = read_pid(cfg, name)
    return pid is not None and pid_alive(pid)


def read_pid(cfg: StackConfig, name: str) -> int | None:
    try:
        return int((cfg.run_dir / f"{name}.pid").read_text())
    except (OSError, ValueError):
        return None


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def group_pss_kib(pgid: int | None) -> int:
    """Proportional set size of every process in a process group (shared pages split fairly)."""
    if pgid is None:
        return 0
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if os.getpgid(int(proc.name)) != pgid:
                continue
            for line in (proc / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except (OSError, ValueError, ProcessLookupError):
            continue
    return total


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return group_pss_kib(pgid) > 0 or pid_alive(pgid)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


def http_ok(url: str) -> bool:
    """Whether the URL answers without a server error (a 401 or 404 still means it is up)."""
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            return bool(resp.status < 500)
    except urllib.error.HTTPError as exc:
        return exc.code < 500
    except (urllib.error.URLError, OSError):
        return False


def safe(check: Callable[[], bool]) -> bool:
    """A health check's answer; one that raises is a no."""
    try:
        return bool(check())
    except Exception:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
