"""Child processes that never outlive the test run.

Every service the harness starts goes through `ManagedProcess`: it writes the
process's output to a log file (shown when a test fails), runs it in its own
process group, and asks the kernel to kill it if the test runner dies
(``PR_SET_PDEATHSIG``), so even ``kill -9`` of pytest leaves nothing behind.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

_PR_SET_PDEATHSIG = 1

#: Every process started in this session, in order, so failures can show their logs.
STARTED: list[ManagedProcess] = []


@contextmanager
def environment(values: Mapping[str, str | None]) -> Iterator[None]:
    """Set these environment variables (None: unset) for the block; put the old ones back."""
    saved = {key: os.environ.get(key) for key in values}
    try:
        for key, value in values.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def free_port(below: int = 65536) -> int:
    """Return a TCP port on 127.0.0.1, lower than `below`, that nothing listens on right now."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < below:
            return port


def _die_with_parent() -> None:
    """Runs in the child before exec: SIGKILL it when the parent thread exits."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class ManagedProcess:
    """A long-running child process with a log file and a reliable stop."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
    ) -> None:
        self.name = name
        self.log_path = log_path
        self.stop_signal = stop_signal
        self._log = log_path.open("ab")
        self.popen = subprocess.Popen(
            list(argv),
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        STARTED.append(self)

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll `ready` until it returns True; raise with the log tail otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.popen.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.popen.returncode} before {what}:\n"
                    f"{self.log_tail()}"
                )
            if ready():
                return
            time.sleep(0.2)
        raise TimeoutError(f"{self.name}: no {what} after {timeout:.0f}s:\n{self.log_tail()}")

    def wait_for_http(self, url: str, timeout: float, ok: Callable[[int], bool]) -> None:
        """Wait until GET `url` answers with a status code that `ok` accepts."""

        def answered() -> bool:
            try:
                return ok(httpx.get(url, timeout=2).status_code)
            except httpx.HTTPError:
                return False

        self.wait_until(answered, timeout, f"answer from {url}")

    @property
    def running(self) -> bool:
        """Whether the process is still alive."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        """The last `lines` lines of the process's output."""
        if not self._log.closed:
            self._log.flush()
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self, timeout: float = 15) -> None:
        """Send the stop signal to the process group, then SIGKILL if it lingers."""
        try:
            if self.popen.poll() is None:
                os.killpg(self.popen.pid, self.stop_signal)
                try:
                    self.popen.wait(timeout)
                except subprocess.TimeoutExpired:
                    os.killpg(self.popen.pid, signal.SIGKILL)
                    self.popen.wait(5)
            # Children the process left in its group (e.g. a worker's flow runs).
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        finally:
            self._log.close()
