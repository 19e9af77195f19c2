"""Killing a test run leaves no dockerd, containerd, shim or container behind.

A child process starts the harness's own dockerd (temporary data-root), runs a container
from a tiny image (the host's ``sleep`` and its C library), and is killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.harness.docker_engine import DATA_ROOT_ENV, REPO_ROOT, find_program, skip_or_fail

CHILD = """
import io, json, os, sys, tarfile, time
from pathlib import Path
from tests.harness.docker_engine import TEST_LABEL, find_or_start_engine

workdir, marker = Path(sys.argv[1]), sys.argv[2]
engine = find_or_start_engine(workdir)
image = io.BytesIO()
with tarfile.open(fileobj=image, mode="w") as tar:
    for path in ("/bin/sleep", "/lib/x86_64-linux-gnu/libc.so.6", "/lib64/ld-linux-x86-64.so.2"):
        tar.add(os.path.realpath(path), arcname=path.lstrip("/"))
client = engine.client()
client.api.import_image(src=image.getvalue(), repository="cleanup-probe", tag="1")
client.containers.run(
    "cleanup-probe:1", ["/bin/sleep", marker], detach=True, network_mode="host",
    labels={TEST_LABEL: "cleanup"},
)
(workdir / "ready.json").write_text(json.dumps({"runtime": engine.host.split("//")[1]}))
time.sleep(600)
"""


def _processes_mentioning(*needles: str) -> list[str]:
    """Command lines of live (not zombie) processes that contain one of `needles`."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (proc / "stat").read_text().split(")")[-1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(needle in cmdline for needle in needles):
            found.append(f"{proc.name}: {cmdline}")
    return found


def test_sigkill_of_the_test_run_kills_dockerd_and_its_containers(tmp_path: Path) -> None:
    if os.geteuid() != 0 or find_program("dockerd") is None:
        skip_or_fail("starting dockerd needs root and dockerd (Debian: docker.io)")
    marker = f"{time.time_ns() % 10**9}.5"  # an argument of `sleep` no other process has
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tmp_path), marker],
        cwd=REPO_ROOT,
        env={
            **os.environ,
            "PYTHONPATH": str(REPO_ROOT),
            DATA_ROOT_ENV: str(tmp_path / "data-root"),
            "DOCKER_HOST": f"unix://{tmp_path / 'none.sock'}",  # start one, use no other
        },
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "child.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "ready.json").exists():
            assert child.poll() is None, (tmp_path / "child.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the child did not start its container"
            time.sleep(0.3)
        runtime = str(Path(json.loads((tmp_path / "ready.json").read_text())["runtime"]).parent)
        assert len(_processes_mentioning(runtime)) >= 3  # dockerd, containerd, the shim
        assert _processes_mentioning(f"sleep {marker}")

        child.send_signal(signal.SIGKILL)
        child.wait(10)

        deadline = time.monotonic() + 15
        while _processes_mentioning(runtime, marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _processes_mentioning(runtime, marker) == []
        assert runtime not in Path("/proc/mounts").read_text()
        shutil.rmtree(runtime)  # what a later session would remove (its owner is dead)
    finally:
        if child.poll() is None:
            child.kill()
