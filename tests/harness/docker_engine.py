"""A Docker engine for the container tests, and the images they run.

`find_or_start_engine` uses an engine that already answers (``DOCKER_HOST`` or the default
socket). Otherwise, as root with ``dockerd`` installed (Debian's ``docker.io``), it starts
one: its own process group (`ManagedProcess`) and its own PID and mount namespaces (so
nothing it started, containers included, outlives it), socket and exec-root in a fresh
folder under /tmp, no bridge and no iptables rules (containers use ``network_mode: host``),
stopped at the end of the session. Its data-root is a stable folder, `DEFAULT_DATA_ROOT` (or
``PLATFORM_TEST_DOCKER_DATA_ROOT``), so the images built by one session are reused by the
next; a lock file keeps two sessions from sharing it (the second one uses a temporary
data-root and builds cold). Where neither is possible, `EngineUnavailable` says why.

`build_flows_image` builds ``images/flows/Dockerfile`` on top of Prefect's image when the
engine has it, else on a Debian bookworm base made here with debootstrap (no registry is
needed). Both images are tagged or labelled with a hash of their inputs and reused while
the inputs are unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

import docker  # type: ignore[import-untyped]
import pytest
from docker.errors import DockerException, ImageNotFound  # type: ignore[import-untyped]

from infra.components.versions import FLOWS_BASE_IMAGE, FLOWS_IMAGE

from .processes import ManagedProcess

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT_ENV = "PLATFORM_TEST_DOCKER_DATA_ROOT"
DEFAULT_DATA_ROOT = Path("/var/cache/prefect-platform-docker")
PULL_BASE_ENV = "PLATFORM_TEST_PULL_BASE"
MIRROR_ENV = "PLATFORM_TEST_DEBIAN_MIRROR"
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
RUNTIME_PREFIX = "ppd-"

#: Label put on every container the tests start, so they can be found and removed.
TEST_LABEL = "org.prefect-platform.test"
INPUTS_LABEL = "org.prefect-platform.inputs"

LOCAL_BASE_REPOSITORY = "prefect-platform-base"
LOCAL_BASE_SUITE = "bookworm"
#: What Prefect's image has that the flows image needs: Python 3.11 (bookworm's), venv, git,
#: CA certificates, and tini as PID 1 (so a container stops on SIGTERM, as Prefect's does).
LOCAL_BASE_PACKAGES = ("python3", "python3-venv", "git", "ca-certificates", "tini")
LOCAL_BASE_CHANGES = (
    'ENTRYPOINT ["/usr/bin/tini", "-g", "--"]',
    "ENV LANG=C.UTF-8",
    "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "WORKDIR /opt/prefect",
)
#: Removed from the debootstrap tree before import: caches and docs nothing at run time reads.
LOCAL_BASE_PRUNE = (
    "var/cache/apt/archives",
    "var/lib/apt/lists",
    "usr/share/doc",
    "usr/share/man",
    "usr/share/info",
)

FLOWS_DOCKERFILE = "images/flows/Dockerfile"
FLOWS_CONTEXT_FILES = ("pyproject.toml", "uv.lock", "images/flows")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


class EngineUnavailable(RuntimeError):
    """No Docker engine answers and none can be started here (the message says why)."""


def skip_or_fail(reason: str) -> NoReturn:
    """Skip the test with `reason`; under ``CI=true`` a missing engine fails it instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the container tests cannot run: {reason}", pytrace=False)
    pytest.skip(f"container tests need a Docker engine: {reason}")


@dataclass
class DockerEngine:
    """A Docker engine the tests can use, and the dockerd process when the harness started it."""

    host: str
    process: ManagedProcess | None = None
    data_root: Path | None = None
    _runtime_dir: Path | None = field(default=None, repr=False)
    _lock: IO[str] | None = field(default=None, repr=False)

    @property
    def owned(self) -> bool:
        """Whether the harness started this engine (and may clean it up as it likes)."""
        return self.process is not None

    def client(self, timeout: int = 120) -> Any:
        """A docker-py client for this engine."""
        return docker.DockerClient(base_url=self.host, timeout=timeout)

    def labelled_containers(self, **labels: str) -> list[Any]:
        """Containers (running or not) that carry `TEST_LABEL` and the given labels."""
        wanted = [TEST_LABEL, *(f"{key}={value}" for key, value in labels.items())]
        client = self.client()
        try:
            # A container auto-removed between the listing and its inspection is not there.
            found = client.containers.list(all=True, filters={"label": wanted}, ignore_removed=True)
            return list(found)
        finally:
            client.close()

    def remove_test_containers(self) -> None:
        """Remove every container the tests started (labelled `TEST_LABEL`)."""
        for container in self.labelled_containers():
            container.remove(force=True)

    def stop(self) -> None:
        """Remove the tests' containers; stop dockerd if the harness started it."""
        with contextlib.suppress(DockerException):
            self.remove_test_containers()
        if self.process is not None:
            self.process.stop(timeout=30)
        if self._runtime_dir is not None:
            shutil.rmtree(self._runtime_dir, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()


def _answers(host: str, timeout: int = 5) -> bool:
    """Whether a Docker engine answers a ping at `host`."""
    try:
        client = docker.DockerClient(base_url=host, timeout=timeout)
    except DockerException:
        return False
    try:
        return bool(client.ping())
    except (DockerException, OSError):
        return False
    finally:
        client.close()


def find_program(program: str) -> str | None:
    """`program` on PATH or in the sbin folders (not on a normal user's PATH)."""
    path = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])
    return shutil.which(program, path=path)


def find_or_start_engine(workdir: Path) -> DockerEngine:
    """An engine that answers already, else dockerd started here; else `EngineUnavailable`."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if _answers(host):
        return DockerEngine(host=host)
    dockerd = find_program("dockerd")
    if dockerd is None:
        raise EngineUnavailable(
            f"no Docker engine answers at {host} and dockerd is not installed "
            "(Debian: apt-get install docker.io)"
        )
    if os.geteuid() != 0:
        raise EngineUnavailable(
            f"no Docker engine answers at {host}, and dockerd needs root to be started here"
        )
    return _start_dockerd(dockerd, workdir)


def _claim_data_root(workdir: Path) -> tuple[Path, IO[str] | None]:
    """The stable data-root and its lock, or a temporary one when another session holds it."""
    data_root = Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT)
    try:
        data_root.mkdir(parents=True, exist_ok=True)
        lock = (data_root.parent / f"{data_root.name}.lock").open("w")
    except OSError as exc:
        print(f"docker data-root {data_root} is not writable ({exc}): using a temporary one")
        return workdir / "data-root", None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        print(f"docker data-root {data_root} is in use by another session: using a temporary one")
        return workdir / "data-root", None
    return data_root, lock


def _remove_dead_runtime_dirs() -> None:
    """Runtime folders of sessions that were killed before they could remove theirs."""
    for runtime in Path("/tmp").glob(f"{RUNTIME_PREFIX}*"):
        try:
            owner = int((runtime / "owner.pid").read_text())
        except (OSError, ValueError):
            continue
        if not _pid_alive(owner):
            shutil.rmtree(runtime, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_dockerd(dockerd: str, workdir: Path) -> DockerEngine:
    workdir.mkdir(parents=True, exist_ok=True)
    data_root, lock = _claim_data_root(workdir)
    _remove_dead_runtime_dirs()
    # Unix socket paths are limited to 108 bytes: keep the runtime folder short.
    runtime = Path(tempfile.mkdtemp(prefix=RUNTIME_PREFIX, dir="/tmp"))
    (runtime / "owner.pid").write_text(str(os.getpid()))
    socket = runtime / "docker.sock"
    namespace = f"prefect-platform-{os.getpid()}"
    # dockerd is PID 1 of its own PID and mount namespaces: when it dies (even when the
    # test runner is killed and the kernel kills its children), so do containerd, the shims
    # and every container, and their mounts vanish with the namespace.
    namespaces = ["unshare", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc"]
    process = ManagedProcess(
        "dockerd",
        [
            *namespaces,
            dockerd,
            f"--data-root={data_root}",
            f"--exec-root={runtime / 'exec'}",
            f"--pidfile={runtime / 'docker.pid'}",
            f"--host=unix://{socket}",
            # Containers use the host's network; nothing to route, nothing to rewrite.
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-masq=false",
            "--log-level=warn",
            # Apart from a system containerd, if dockerd finds one, other sessions' engines.
            f"--containerd-namespace={namespace}",
            f"--containerd-plugins-namespace={namespace}-plugins",
        ],
        env={**os.environ},
        log_path=workdir / "dockerd.log",
        stop_signal=signal.SIGTERM,
    )
    engine = DockerEngine(
        host=f"unix://{socket}",
        process=process,
        data_root=data_root,
        _runtime_dir=runtime,
        _lock=lock,
    )
    try:
        process.wait_until(lambda: _answers(engine.host, 2), 60, "docker engine answering")
        client = engine.client()
        try:
            # Containers left by a killed session on the kept data-root.
            client.containers.prune()
        finally:
            client.close()
    except BaseException:
        engine.stop()
        raise
    return engine


@dataclass
class ImageBuild:
    """What building an image did: its tag, whether it was reused, and how long it took."""

    tag: str
    cached: bool
    seconds: float


@dataclass
class FlowsImage:
    """The flows image the tests run, and how it and its base were obtained."""

    tag: str
    base: ImageBuild
    build: ImageBuild


def _digest(parts: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def _image(client: Any, tag: str) -> Any | None:
    try:
        return client.images.get(tag)
    except ImageNotFound:
        return None


def base_image(engine: DockerEngine, workdir: Path) -> ImageBuild:
    """Prefect's image if the engine has it (or may pull it), else a local debootstrap base.

    Pulling is tried only with ``PLATFORM_TEST_PULL_BASE=1``: where no registry is
    reachable, a pull attempt is only a wait.
    """
    client = engine.client()
    try:
        if _image(client, FLOWS_BASE_IMAGE) is not None:
            return ImageBuild(FLOWS_BASE_IMAGE, cached=True, seconds=0.0)
        if os.environ.get(PULL_BASE_ENV) == "1":
            started = time.monotonic()
            client.images.pull(FLOWS_BASE_IMAGE)
            return ImageBuild(FLOWS_BASE_IMAGE, cached=False, seconds=time.monotonic() - started)
        return _local_base(engine, client, workdir)
    finally:
        client.close()


def local_base_tag() -> str:
    """The local base image's tag: it changes whenever what goes into the image does."""
    inputs = {
        "suite": LOCAL_BASE_SUITE,
        "packages": LOCAL_BASE_PACKAGES,
        "changes": LOCAL_BASE_CHANGES,
        "prune": LOCAL_BASE_PRUNE,
        "mirror": os.environ.get(MIRROR_ENV, ""),
    }
    return f"{LOCAL_BASE_REPOSITORY}:{LOCAL_BASE_SUITE}-{_digest(inputs)}"


def _local_base(engine: DockerEngine, client: Any, workdir: Path) -> ImageBuild:
    tag = local_base_tag()
    if _image(client, tag) is not None:
        return ImageBuild(tag, cached=True, seconds=0.0)
    debootstrap = find_program("debootstrap")
    if debootstrap is None:
        raise EngineUnavailable(
            f"the engine has neither {FLOWS_BASE_IMAGE} nor {tag}, and debootstrap is not "
            "installed to build the base (Debian: apt-get install debootstrap)"
        )
    if os.geteuid() != 0:
        raise EngineUnavailable(f"building {tag} with debootstrap needs root")
    started = time.monotonic()
    root = workdir / "base-rootfs"
    log = workdir / "debootstrap.log"
    argv = [
        debootstrap,
        "--variant=minbase",
        f"--include={','.join(LOCAL_BASE_PACKAGES)}",
        LOCAL_BASE_SUITE,
        str(root),
    ]
    if mirror := os.environ.get(MIRROR_ENV):
        argv.append(mirror)
    with log.open("w") as output:
        done = subprocess.run(argv, stdout=output, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
        raise RuntimeError(f"debootstrap failed ({done.returncode}):\n{tail}")
    try:
        for relative in LOCAL_BASE_PRUNE:
            target = root / relative
            if target.is_dir():
                shutil.rmtree(target)
                target.mkdir()
        repository, _, version = tag.partition(":")
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE) as tar:
            client.api.import_image(
                src=tar.stdout,
                repository=repository,
                tag=version,
                changes=list(LOCAL_BASE_CHANGES),
                stream_src=True,
            )
        if tar.returncode != 0 or _image(client, tag) is None:
            raise RuntimeError(f"importing the debootstrap tree as {tag} failed")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if engine.owned:
        _remove_other_tags(client, LOCAL_BASE_REPOSITORY, keep=tag)
    return ImageBuild(tag, cached=False, seconds=time.monotonic() - started)


def _remove_other_tags(client: Any, repository: str, keep: str) -> None:
    """Drop older local bases so the kept data-root does not grow with every change."""
    for image in client.images.list(name=repository):
        for tag in image.tags:
            if tag != keep:
                client.images.remove(tag)


def flows_image_inputs(base_id: str) -> str:
    """Hash of what the flows image is built from: Dockerfile, lock, pyproject, base image."""
    files = {
        relative: hashlib.sha256((REPO_ROOT / relative).read_bytes()).hexdigest()
        for relative in (FLOWS_DOCKERFILE, "pyproject.toml", "uv.lock")
    }
    return _digest({"files": files, "base": base_id})


def _build_context(workdir: Path) -> Path:
    """The files the Dockerfile copies, plus the host's CA bundle for the build stage only."""
    context = workdir / "flows-context"
    shutil.rmtree(context, ignore_errors=True)
    for relative in FLOWS_CONTEXT_FILES:
        source = REPO_ROOT / relative
        target = context / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
    bundle = Path(os.environ.get("SSL_CERT_FILE") or HOST_CA_BUNDLE)
    if bundle.is_file():
        shutil.copy2(bundle, context / "images/flows/ca-certificates/host-bundle.crt")
    return context


def build_flows_image(engine: DockerEngine, workdir: Path) -> FlowsImage:
    """The flows image, tagged `FLOWS_IMAGE`, built on `base_image` unless already current."""
    workdir.mkdir(parents=True, exist_ok=True)
    base = base_image(engine, workdir)
    client = engine.client(timeout=900)
    try:
        inputs = flows_image_inputs(client.images.get(base.tag).id)
        existing = _image(client, FLOWS_IMAGE)
        if existing is not None and existing.labels.get(INPUTS_LABEL) == inputs:
            return FlowsImage(FLOWS_IMAGE, base, ImageBuild(FLOWS_IMAGE, True, 0.0))
        started = time.monotonic()
        context = _build_context(workdir)
        log = workdir / "flows-image-build.log"
        try:
            with log.open("w") as output:
                _stream_build(
                    client,
                    output,
                    path=str(context),
                    dockerfile=FLOWS_DOCKERFILE,
                    tag=FLOWS_IMAGE,
                    buildargs={"BASE_IMAGE": base.tag},
                    labels={INPUTS_LABEL: inputs},
                    network_mode="host",
                    rm=True,
                    forcerm=True,
                )
        finally:
            shutil.rmtree(context, ignore_errors=True)
        if engine.owned:
            client.images.prune(filters={"dangling": True})
        seconds = time.monotonic() - started
        return FlowsImage(FLOWS_IMAGE, base, ImageBuild(FLOWS_IMAGE, False, seconds))
    finally:
        client.close()


def _stream_build(client: Any, output: IO[str], **options: Any) -> None:
    """Run a build, writing its output to `output`; raise with the tail if a step fails."""
    lines: list[str] = []
    started = time.monotonic()
    for chunk in _build_chunks(client, **options):
        text = str(chunk.get("stream") or chunk.get("status") or "")
        for line in _ANSI.sub("", text).splitlines():
            if line.strip():
                output.write(f"[{time.monotonic() - started:6.1f}s] {line}\n")
                lines.append(line)
        if "error" in chunk:
            tail = "\n".join(lines[-30:])
            raise RuntimeError(f"building {options.get('tag')} failed: {chunk['error']}\n{tail}")


def _build_chunks(client: Any, **options: Any) -> Iterator[dict[str, Any]]:
    yield from client.api.build(decode=True, **options)
