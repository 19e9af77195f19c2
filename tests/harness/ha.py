"""The production HA topology of the Prefect server, on this machine, with faults on demand.

What the `prod` stack runs in Kubernetes (`separateBackgroundServices` with Redis, several API
replicas behind a Service/Ingress), as local processes:

- a fresh PostgreSQL database (as `live_server`), migrated **once** by
  ``prefect server database upgrade -y`` before any API process starts (the chart's
  migrations Job); every server process then runs with
  ``PREFECT_SERVER_DATABASE_MIGRATE_ON_START=false``;
- a private ``redis-server`` on a free loopback port, password on, append-only file on with
  ``appendfsync everysec`` (the chart's Redis subchart: ``appendonly yes`` on a persistent
  volume, fsync every second by default), so it can be killed and restarted without
  touching the machine's shared Redis;
- N ``prefect server start --no-services`` API processes and one
  ``prefect server services start`` background-services process, all with the prefect-redis
  settings of `infra.components.server_values.redis_messaging_env` (the same function the
  chart values come from) and basic auth on;
- nginx in front, one process (``master_process off``: ``PR_SET_PDEATHSIG`` then leaves no
  nginx worker behind when the test runner dies): round robin over the API processes,
  passive health checks (``max_fails``/``fail_timeout``) and ``proxy_next_upstream`` so a
  request that finds a dead upstream is retried on the next one, websockets passed through,
  and an access log of what clients saw (status, upstreams tried, time; no query strings,
  no headers, so no credentials).

Every process is a `ManagedProcess`; `HaTopology.kill` (SIGKILL of the process group) and
`HaTopology.restart` inject the faults; `HaTopology.shut_down` (the stop signal, as Kubernetes
sends on a rolling update) and `HaTopology.set_env` restart a process with new settings
(`tests/harness/ha_rotation.py` rotates the auth string that way).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from infra.components.server_values import redis_messaging_env

from .live_server import _create_database, _with_database, client_env, psql
from .processes import ManagedProcess, free_port

_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])

#: Each program the topology needs, and the Debian package that ships it.
DEBIAN_PACKAGES: dict[str, str] = {
    "nginx": "nginx",
    "redis-server": "redis-server",
    "redis-cli": "redis-tools",
}

SERVICES = "services"
"""Name of the background-services process."""
REDIS = "redis"
"""Name of the Redis process."""
BALANCER = "nginx"
"""Name of the load balancer process."""
SERVER_AUTH_ENV = "PREFECT_SERVER_API_AUTH_STRING"
"""The setting that holds the auth string of a server process (API or services)."""


def missing_packages() -> list[str]:
    """The Debian packages to install before the topology can start (empty: nothing missing)."""
    return sorted(
        {
            package
            for name, package in DEBIAN_PACKAGES.items()
            if not shutil.which(name, path=_SBIN_PATH)
        }
    )


def api_name(index: int) -> str:
    """Name of the `index`-th API process (``api-0``, ``api-1``, ...)."""
    return f"api-{index}"


def worker_name(index: int) -> str:
    """Name of the `index`-th worker of `running_workers` (``ha-worker-0``, ...)."""
    return f"ha-worker-{index}"


_NGINX_CONF = """\
daemon off;
master_process off;
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format ha '$msec|$status|$request_method|$uri|$upstream_addr|$upstream_status|'
                  '$request_time';
    access_log {dir}/access.log ha;
    client_body_temp_path {dir}/tmp/body;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    proxy_temp_path {dir}/tmp/proxy;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    upstream prefect_api {{
{upstreams}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        location / {{
            proxy_pass http://prefect_api;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_connect_timeout 2s;
            proxy_read_timeout 300s;
            proxy_send_timeout 300s;
            proxy_next_upstream error timeout http_502 http_503 non_idempotent;
            proxy_next_upstream_tries {tries};
            proxy_next_upstream_timeout 30s;
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
"""


@dataclass
class _Spec:
    """How to (re)start one process of the topology and tell that it is ready."""

    argv: Sequence[str]
    env: Mapping[str, str]
    log: Path
    ready: Callable[[], Callable[[ManagedProcess], None]]
    """Called just before the start: returns the check that waits until the process is ready."""
    stop_signal: signal.Signals = signal.SIGTERM


@dataclass
class HaTopology:
    """A running HA topology and what a client needs to talk to it through the balancer."""

    workdir: Path
    api_url: str
    """The balancer's API URL (``http://127.0.0.1:PORT/api``): what clients and workers use."""
    auth_string: str
    """``admin:<generated password>``, set on every server process."""
    database: str
    """Name of the topology's PostgreSQL database (dropped by `stop`)."""
    api_ports: list[int]
    """Loopback port of each API process, in `api_names` order."""
    redis_port: int
    """Loopback port of the topology's own Redis."""
    redis_password: str = field(repr=False)
    """Its password."""
    access_log: Path = field(repr=False)
    """The balancer's access log (`access_entries` parses it)."""
    processes: dict[str, ManagedProcess] = field(default_factory=dict, repr=False)
    """The current process of each name (replaced on `restart`)."""
    _specs: dict[str, _Spec] = field(default_factory=dict, repr=False)
    _admin_url: str | None = field(default=None, repr=False)

    @property
    def auth(self) -> tuple[str, str]:
        """(user, password) for httpx."""
        user, _, password = self.auth_string.partition(":")
        return user, password

    @property
    def api_names(self) -> list[str]:
        """Names of the API processes."""
        return [api_name(i) for i in range(len(self.api_ports))]

    @property
    def server_names(self) -> list[str]:
        """Names of the processes that run with `SERVER_AUTH_ENV`: the API ones, then services."""
        return [*self.api_names, SERVICES]

    def client_env(self, home: Path | None = None) -> dict[str, str]:
        """Environment for a client process (worker, CLI) that talks through the balancer."""
        return client_env(self.api_url, self.auth_string, home or self.workdir / "client")

    def start(self, name: str) -> None:
        """Start process `name` and wait until it is ready."""
        spec = self._specs[name]
        ready = spec.ready()
        process = ManagedProcess(
            name, spec.argv, env=spec.env, log_path=spec.log, stop_signal=spec.stop_signal
        )
        self.processes[name] = process
        try:
            ready(process)
        except BaseException:
            process.stop()
            raise

    def kill(self, name: str) -> None:
        """Kill process `name` (and its group) with SIGKILL: a crash, not a shutdown."""
        process = self.processes[name]
        with suppress(ProcessLookupError):
            os.killpg(process.popen.pid, signal.SIGKILL)
        process.popen.wait(10)
        process.stop()

    def restart(self, name: str) -> float:
        """Start `name` again after `kill`; return the seconds it took to become ready."""
        started = time.monotonic()
        self.start(name)
        return time.monotonic() - started

    def shut_down(self, name: str) -> None:
        """Stop process `name` with its stop signal (SIGKILL after a grace period), as a
        rolling update does; `restart` starts it again."""
        self.processes[name].stop()

    def set_env(self, name: str, values: Mapping[str, str]) -> None:
        """Change the environment process `name` gets at its next (re)start."""
        spec = self._specs[name]
        spec.env = {**spec.env, **values}

    def wait_until_balanced(self, name: str, timeout: float = 60) -> None:
        """Wait until the balancer serves a request from API process `name` again.

        After a failure nginx holds an upstream out for ``fail_timeout``, then lets a request
        through to try it: until one succeeds, the process is up but gets no traffic (what a
        readiness probe ends in Kubernetes). Health requests go through the balancer until
        one comes back from `name` (the ``X-Upstream`` header says which upstream answered).
        """
        wanted = f"127.0.0.1:{self.api_ports[self.api_names.index(name)]}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"{self.api_url}/health", timeout=5)
                if response.status_code == 200 and response.headers.get("x-upstream") == wanted:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"the balancer sent nothing to {name} ({wanted}) within {timeout:.0f}s")

    def redis_cli(self, *args: str) -> str:
        """Run one ``redis-cli`` command against the topology's Redis."""
        result = subprocess.run(
            [
                "redis-cli",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.redis_port),
                "--no-auth-warning",
                *args,
            ],
            env={**os.environ, "REDISCLI_AUTH": self.redis_password},
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        return result.stdout.strip()

    def access_entries(self) -> list[AccessEntry]:
        """Every request the balancer has answered so far, from its access log."""
        if not self.access_log.exists():
            return []
        return [
            AccessEntry.parse(line) for line in self.access_log.read_text().splitlines() if line
        ]

    def stop(self) -> None:
        """Stop every process (balancer first, Redis last) and drop the database."""
        order = [BALANCER, *self.api_names, SERVICES, REDIS]
        try:
            with ExitStack() as stops:  # every process is stopped even if one stop raises
                for name in reversed(order):
                    if name in self.processes:
                        stops.callback(self.processes[name].stop)
        finally:
            if self._admin_url:
                psql(self._admin_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


@dataclass(frozen=True)
class AccessEntry:
    """One line of the balancer's access log."""

    time: float
    status: int
    method: str
    path: str
    upstreams: str
    """Every upstream nginx tried, e.g. ``127.0.0.1:4001, 127.0.0.1:4002`` after a retry."""
    upstream_statuses: str
    seconds: float

    @classmethod
    def parse(cls, line: str) -> AccessEntry:
        """Parse a line of the ``ha`` log format (fields separated by ``|``)."""
        stamp, status, method, path, upstreams, statuses, seconds = line.split("|")
        return cls(float(stamp), int(status), method, path, upstreams, statuses, float(seconds))

    @property
    def retried(self) -> bool:
        """Whether nginx tried more than one upstream for this request."""
        return "," in self.upstreams


def start_ha_topology(workdir: Path, database_url: str, api_processes: int = 2) -> HaTopology:
    """Start the topology on a fresh database of `database_url`'s PostgreSQL server.

    Args:
        workdir: every process's home, configuration and log go below it.
        database_url: ``postgresql+asyncpg://user@host:port/db``; only its server is used.
        api_processes: how many API processes behind the balancer (at least 2).

    Raises:
        RuntimeError: a program is missing (naming the Debian packages) or did not start.
    """
    if api_processes < 2:
        raise ValueError("an HA topology needs at least two API processes")
    missing = missing_packages()
    if missing:
        raise RuntimeError(f"the HA topology needs the Debian packages {', '.join(missing)}")
    workdir.mkdir(parents=True, exist_ok=True)
    database, admin_url = _create_database(database_url)
    redis_password = secrets.token_urlsafe(24)
    topology = HaTopology(
        workdir=workdir,
        api_url="",
        auth_string=f"admin:{secrets.token_urlsafe(24)}",
        database=database,
        api_ports=[free_port() for _ in range(api_processes)],
        redis_port=free_port(),
        redis_password=redis_password,
        access_log=workdir / "nginx" / "access.log",
        _admin_url=admin_url,
    )
    try:
        _start(topology, _with_database(database_url, database))
    except BaseException:
        topology.stop()
        raise
    return topology


def _start(topology: HaTopology, connection_url: str) -> None:
    workdir = topology.workdir
    topology._specs[REDIS] = _redis_spec(topology)
    topology.start(REDIS)

    server_env = {
        **os.environ,
        "PREFECT_SERVER_API_AUTH_STRING": topology.auth_string,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_UI_ENABLED": "false",
        "PREFECT_SERVER_LOGGING_LEVEL": "WARNING",
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": connection_url,
        "PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false",
        **redis_messaging_env("127.0.0.1", topology.redis_password, port=topology.redis_port),
    }
    for stale in ("PREFECT_API_URL", "PREFECT_API_AUTH_STRING"):
        server_env.pop(stale, None)

    def home(name: str) -> dict[str, str]:
        path = workdir / name / "prefect-home"
        path.mkdir(parents=True, exist_ok=True)
        return {**server_env, "PREFECT_HOME": str(path)}

    _migrate(home("migrations"), workdir / "migrations.log")

    prefect = [sys.executable, "-m", "prefect"]
    for index, port in enumerate(topology.api_ports):
        name = api_name(index)
        health = f"http://127.0.0.1:{port}/api/health"
        topology._specs[name] = _Spec(
            argv=[
                *prefect,
                "server",
                "start",
                "--no-services",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=home(name),
            log=workdir / f"{name}.log",
            ready=_http_ready(health),
        )
    topology._specs[SERVICES] = _Spec(
        argv=[*prefect, "server", "services", "start"],
        env=home(SERVICES),
        log=workdir / f"{SERVICES}.log",
        ready=_services_ready(topology),
    )
    for name in topology.api_names:
        topology.start(name)
    topology.start(SERVICES)

    port = free_port()
    topology.api_url = f"http://127.0.0.1:{port}/api"
    topology._specs[BALANCER] = _nginx_spec(topology, port)
    topology.start(BALANCER)


def _http_ready(url: str) -> Callable[[], Callable[[ManagedProcess], None]]:
    """A readiness check: GET `url` answers 200."""

    def ready(process: ManagedProcess) -> None:
        process.wait_for_http(url, 120, lambda code: code == 200)

    return lambda: ready


def _has_started(log: Path) -> Callable[[], bool]:
    """Whether a worker's log says it started."""
    return lambda: "started" in log.read_text().lower()


def _migrate(env: Mapping[str, str], log: Path) -> None:
    """Run the migrations once, as the chart's migrations Job does, before any server starts."""
    argv = [sys.executable, "-m", "prefect", "server", "database", "upgrade", "-y"]
    with log.open("ab") as out:
        result = subprocess.run(
            argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, timeout=300
        )
    if result.returncode != 0:
        raise RuntimeError(f"migrations failed ({result.returncode}):\n{log.read_text()[-4000:]}")


def _redis_spec(topology: HaTopology) -> _Spec:
    directory = topology.workdir / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    conf = directory / "redis.conf"
    conf.write_text(
        f"bind 127.0.0.1\nport {topology.redis_port}\ndir {directory}\n"
        f'requirepass "{topology.redis_password}"\nappendonly yes\nappendfsync everysec\n'
        'save ""\nprotected-mode yes\ndaemonize no\n'
    )
    conf.chmod(0o600)

    def ready(process: ManagedProcess) -> None:
        process.wait_until(lambda: topology.redis_cli("PING") == "PONG", 30, "PONG")

    return _Spec(
        argv=[str(shutil.which("redis-server", path=_SBIN_PATH)), str(conf)],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        log=directory / "redis.log",
        ready=lambda: ready,
    )


def _services_ready(topology: HaTopology) -> Callable[[], Callable[[ManagedProcess], None]]:
    """The services process is ready when it has joined the event stream's consumer groups.

    It logs nothing when its services are up; what shows it is Redis: each consumer (triggers,
    actions, event persister, ...) registers in a consumer group of the ``events`` stream.
    """

    def consumers() -> int:
        text = topology.redis_cli("XINFO", "GROUPS", "events")
        lines = text.splitlines()
        return sum(int(lines[i + 1]) for i, line in enumerate(lines[:-1]) if line == "consumers")

    def check() -> Callable[[ManagedProcess], None]:
        before = consumers()

        def ready(process: ManagedProcess) -> None:
            process.wait_until(lambda: consumers() > before, 120, "consumers on the events stream")

        return ready

    return check


def _nginx_spec(topology: HaTopology, port: int) -> _Spec:
    directory = topology.workdir / "nginx"
    for sub in ("body", "fastcgi", "proxy", "uwsgi", "scgi"):
        (directory / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    upstreams = "\n".join(
        f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=5s;" for p in topology.api_ports
    )
    (directory / "nginx.conf").write_text(
        _NGINX_CONF.format(
            dir=directory,
            port=port,
            upstreams=upstreams,
            tries=len(topology.api_ports) + 1,
        )
    )
    nginx = str(shutil.which("nginx", path=_SBIN_PATH))

    def ready(process: ManagedProcess) -> None:
        def answers() -> bool:
            try:
                response = httpx.get(f"{topology.api_url}/health", timeout=2)
            except httpx.HTTPError:
                return False
            return response.status_code == 200

        process.wait_until(answers, 30, "health through the balancer")

    return _Spec(
        argv=[nginx, "-e", "stderr", "-p", str(directory), "-c", str(directory / "nginx.conf")],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"},
        log=directory / "nginx.log",
        ready=lambda: ready,
        stop_signal=signal.SIGQUIT,
    )


def start_worker(
    topology: HaTopology, pool: str, workdir: Path, name: str, *, wait: bool = True
) -> ManagedProcess:
    """Start process worker `name` for `pool` through the balancer (`wait`: until it started).

    As `tests.harness.worker.running_worker` (polling every second, stopped with SIGINT), with
    its own home below `workdir`, authenticated with the topology's `auth_string` at this
    moment: starting it again after a rotation gives it the new one. Each start has its own
    log (``<name>.log``, then ``<name>.2.log``, ...).
    """
    env = {
        **os.environ,
        **topology.client_env(workdir / f"{name}-home"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PREFECT_WORKER_PREFETCH_SECONDS": "1",
    }
    log = workdir / f"{name}.log"
    starts = 1
    while log.exists():
        starts += 1
        log = workdir / f"{name}.{starts}.log"
    argv = [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool]
    process = ManagedProcess(
        f"worker[{name}]",
        [*argv, "--type", "process", "--name", name],
        env=env,
        log_path=log,
        cwd=workdir,
        stop_signal=signal.SIGINT,
    )
    if wait:
        try:
            process.wait_until(_has_started(log), 90, "worker start-up")
        except BaseException:
            process.stop()
            raise
    return process


@contextmanager
def running_workers(
    topology: HaTopology, pool: str, workdir: Path, count: int = 2
) -> Iterator[list[ManagedProcess]]:
    """`count` process workers for `pool` (`start_worker`, `worker_name`), for the block.

    They compete for the same runs. A worker the block replaces in the list (a restart) is
    the one stopped at the end.
    """
    workers: list[ManagedProcess] = []
    try:
        for index in range(count):
            workers.append(start_worker(topology, pool, workdir, worker_name(index), wait=False))
        for process in workers:
            process.wait_until(_has_started(process.log_path), 90, "worker start-up")
        yield workers
    finally:
        for process in workers:
            process.stop()
