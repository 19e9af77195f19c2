"""scripts/up.sh and scripts/down.sh, run for real against stand-ins for the tools.

Here there is no Docker engine, kind or Pulumi CLI. The scripts run from a sandbox: a copy of
the repository's scripts and stack files in a git repository of its own, with a PATH that holds
basic shell tools plus executables standing in for `docker`, `kind`, `pulumi` and `uv`. Each
stand-in records its arguments (and for `pulumi`, its working directory and the repository URL
it was given) in a log; `pulumi` behaves like the real CLI where the scripts depend on it: it
needs a `Pulumi.yaml` in its working directory and, creating a stack with a passphrase, writes
`encryptionsalt` into that directory's `Pulumi.<stack>.yaml`. A local HTTP server answers the
health check and serves tool releases.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.harness.mockstack import REPO

BASIC_TOOLS = (
    "bash", "cat", "chmod", "cp", "cut", "dirname", "grep", "gzip", "head", "ls", "mkdir",
    "mktemp", "mv", "od", "printf", "rm", "sed", "seq", "sha256sum", "sleep", "tar", "touch",
    "tr", "uname",
)  # fmt: skip

FAKE_PULUMI = r"""#!/usr/bin/env bash
# Stand-in for the Pulumi CLI: logs each call, keeps stacks as files in $FAKE_STATE.
printf 'pulumi\t%s\t%s\t%s\n' "$PWD" "${PREFECT_PLATFORM_REPO_URL:-}" "$*" >>"$FAKE_LOG"
stack_of() {
  local prev=""
  for a in "$@"; do [[ "$prev" == --stack ]] && echo "$a"; prev="$a"; done
}
case "$1 ${2:-}" in
  "stack select")
    if [[ ! -f Pulumi.yaml ]]; then
      echo "error: no Pulumi.yaml project file found in $PWD" >&2
      exit 255
    fi
    if [[ -f "$FAKE_STATE/stack-$3" ]]; then exit 0; fi
    if [[ " $* " == *" --create "* ]]; then
      touch "$FAKE_STATE/stack-$3"
      # Like Pulumi's passphrase provider: the new salt goes into the stack's config file.
      printf 'encryptionsalt: v1:salt-of-this-checkout\n' >>"Pulumi.$3.yaml"
      exit 0
    fi
    echo "error: no stack named '$3' found" >&2; exit 255 ;;
  "stack output")
    case "$3" in
      apiUrl) echo "$FAKE_API_URL" ;;
      uiUrl) echo "${FAKE_API_URL%/api}" ;;
      s3Endpoint) echo "http://object-store.prefect.svc.cluster.local:9000" ;;
      openUiCommand) echo "python3 -m webbrowser ${FAKE_API_URL%/api}" ;;
      *) echo "error: current stack does not have output property '$3'" >&2; exit 255 ;;
    esac ;;
  "stack rm")
    rm -f "$FAKE_STATE/stack-$(stack_of "$@")" ;;
  "config get")
    [[ -f "$FAKE_STATE/config-$3" ]] || { echo "error: missing $3" >&2; exit 255; }
    cat "$FAKE_STATE/config-$3" ;;
  "config set")
    if [[ " $* " == *" --secret "* ]]; then key="$4"; else key="$3"; fi
    cat >"$FAKE_STATE/config-$key" ;;
  *)
    case "$1" in
      up)
        prev=""
        for a in "$@"; do
          [[ "$prev" == --config-file ]] && cp "$a" "$FAKE_STATE/config-used-by-up.yaml"
          prev="$a"
        done ;;
      destroy) exit "${FAKE_DESTROY_STATUS:-0}" ;;
    esac ;;
esac
"""

FAKE_TOOL = r"""#!/usr/bin/env bash
# Stand-in for {name}: logs each call.
printf '{name}\t%s\n' "$*" >>"$FAKE_LOG"
if [[ "{name}" == kind && "$1 ${{2:-}}" == "get clusters" ]]; then
  printf '%s' "${{FAKE_KIND_CLUSTERS:-}}"
fi
exit 0
"""


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@dataclass
class Sandbox:
    """A copy of the repository's scripts and stack files, and the environment to run them in."""

    root: Path
    bin: Path
    www: Path
    base_url: str
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log(self) -> Path:
        """The calls the stand-ins recorded, one line each (tool, then its details)."""
        return Path(self.env["FAKE_LOG"])

    @property
    def state(self) -> Path:
        """Where the stand-in `pulumi` keeps its stacks."""
        return Path(self.env["FAKE_STATE"])

    def fake(self, *names: str) -> None:
        """Put stand-ins for these tools on PATH."""
        for name in names:
            script = FAKE_PULUMI if name == "pulumi" else FAKE_TOOL.format(name=name)
            (self.bin / name).write_text(script)
            (self.bin / name).chmod(0o755)

    def link(self, *names: str) -> None:
        """Put the real tools on PATH."""
        for name in names:
            found = shutil.which(name)
            assert found, f"{name} is needed to run the scripts"
            (self.bin / name).symlink_to(found)

    def run(self, script: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run scripts/<script> in the sandbox."""
        return subprocess.run(
            [str(self.root / "scripts" / script)],
            env={**self.env, **env},
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    def calls(self, tool: str) -> list[list[str]]:
        """The recorded calls of one stand-in, each as its tab-separated fields."""
        if not self.log.exists():
            return []
        lines = self.log.read_text().splitlines()
        return [line.split("\t")[1:] for line in lines if line.split("\t")[0] == tool]


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    """The sandbox, with basic tools only on PATH, and a local HTTP server."""
    root = tmp_path / "repo"
    shutil.copytree(
        REPO / "scripts", root / "scripts", ignore=shutil.ignore_patterns("__pycache__")
    )
    for stack_file in REPO.glob("Pulumi*.yaml"):
        shutil.copy(stack_file, root / stack_file.name)
    # What `python -c 'from infra.components.versions import FLOWS_IMAGE'` reads.
    versions = root / "infra" / "components"
    versions.mkdir(parents=True)
    (root / "infra" / "__init__.py").write_text("")
    (versions / "__init__.py").write_text("")
    (versions / "versions.py").write_text('FLOWS_IMAGE = "prefect-platform-flows:test"\n')
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    www = tmp_path / "www"
    (www / "api").mkdir(parents=True)
    (www / "api" / "health").write_text("true")
    (tmp_path / "fake-state").mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base_url = f"http://127.0.0.1:{server.server_address[1]}"
    box = Sandbox(root, bin_dir, www, base_url)
    box.link(*BASIC_TOOLS)
    box.env = {
        "PATH": str(bin_dir),
        "HOME": str(tmp_path),
        "FAKE_LOG": str(tmp_path / "calls.log"),
        "FAKE_STATE": str(tmp_path / "fake-state"),
        "FAKE_API_URL": f"{base_url}/api",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()


def _git(root: Path, *argv: str) -> None:
    subprocess.run(["git", "-C", str(root), *argv], check=True, capture_output=True)


@pytest.fixture
def laptop(sandbox: Sandbox) -> Sandbox:
    """A sandbox with every tool up.sh needs (stand-ins for docker, kind, pulumi and uv) and a
    git checkout whose `origin` is an ssh URL, as on a developer's laptop."""
    sandbox.fake("docker", "kind", "pulumi", "uv")
    sandbox.link("curl", "git")
    python = sandbox.bin / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    _git(sandbox.root, "init", "-q", "-b", "main")
    _git(sandbox.root, "remote", "add", "origin", "git@github.com:acme/prefect-platform.git")
    sandbox.env["PREFECT_PLATFORM_BRANCH"] = "main"
    return sandbox


# Missing tools ---------------------------------------------------------------------------------


@pytest.mark.parametrize("script", ["up.sh", "down.sh"])
def test_missing_prerequisites_are_named_and_nothing_changes(sandbox: Sandbox, script: str) -> None:
    result = sandbox.run(script)
    assert result.returncode == 2, result.stderr
    message = result.stderr
    assert "missing tools for stack local (target kubernetes)" in message
    assert "docker: install Docker Engine" in message
    assert "uv:" in message and "curl:" in message
    # kind and pulumi are not prerequisites any more: they are installed, once Docker is there.
    assert "installs kind v0.29.0 and pulumi 3.272.0 into .tools/" in message
    assert not (sandbox.root / ".pulumi-state").exists()
    assert not (sandbox.root / ".tools").exists()


def test_docker_stack_does_not_ask_for_kind(sandbox: Sandbox) -> None:
    result = sandbox.run("up.sh", STACK="docker")
    assert result.returncode == 2
    assert "target docker" in result.stderr
    assert "kind" not in result.stderr


def test_unknown_stack_names_the_stack_files(sandbox: Sandbox) -> None:
    result = sandbox.run("up.sh", STACK="staging")
    assert result.returncode == 1
    assert "no stack file" in result.stderr and "Pulumi.staging.yaml" in result.stderr
    for stack in ("local", "pr", "prod", "docker"):
        assert stack in result.stderr


def test_scripts_parse() -> None:
    for script in sorted((REPO / "scripts").glob("*.sh")):
        subprocess.run(["bash", "-n", str(script)], check=True, env={**os.environ})


# make up on a laptop ---------------------------------------------------------------------------


def test_up_converts_an_ssh_origin_to_https_for_flow_runs(laptop: Sandbox) -> None:
    result = laptop.run("up.sh")
    assert result.returncode == 0, result.stderr
    up = [call for call in laptop.calls("pulumi") if call[2].startswith("up ")]
    assert len(up) == 1
    assert up[0][1] == "https://github.com/acme/prefect-platform.git"
    assert "flow runs clone over https" in result.stderr


def test_up_generates_a_missing_webhook_secret_and_keeps_it_out_of_its_output(
    laptop: Sandbox,
) -> None:
    (laptop.root / "webhooks").mkdir()
    (laptop.root / "webhooks" / "hook.yaml").write_text("slug: hook\nsecret: hookSecret\n")
    first = laptop.run("up.sh")
    stored = laptop.state / "config-prefect-platform:hookSecret"
    assert first.returncode == 0, first.stderr
    value = stored.read_text()
    assert len(value) == 64 and int(value, 16) >= 0  # 32 random bytes, hex
    assert value not in first.stdout + first.stderr
    assert "generated the webhook secret prefect-platform:hookSecret" in first.stdout

    second = laptop.run("up.sh")  # the next `make up` keeps the value the sender was given
    assert second.returncode == 0, second.stderr
    assert stored.read_text() == value
    assert "generated" not in second.stdout


def test_up_stops_before_pulumi_up_when_a_blocks_secret_is_not_set(laptop: Sandbox) -> None:
    (laptop.root / "blocks").mkdir()
    (laptop.root / "blocks" / "alerts.yaml").write_text(
        "type: slack-webhook\nname: alerts\nsecrets:\n  url: slackUrl\n"
    )
    result = laptop.run("up.sh")
    assert result.returncode == 1
    assert "pulumi config set --secret prefect-platform:slackUrl <value>" in result.stderr
    assert not [call for call in laptop.calls("pulumi") if call[2].startswith("up ")]


@pytest.mark.parametrize(
    ("origin", "cloned"),
    [
        ("ssh://git@gitlab.example.com:2222/team/platform.git", "https://gitlab.example.com/team/platform.git"),
        ("https://bot:ghp_secret@github.com/acme/platform.git", "https://github.com/acme/platform.git"),
        ("https://github.com/acme/platform.git", "https://github.com/acme/platform.git"),
    ],
)  # fmt: skip
def test_up_gives_flow_runs_an_https_url_without_credentials(
    laptop: Sandbox, origin: str, cloned: str
) -> None:
    _git(laptop.root, "remote", "set-url", "origin", origin)
    result = laptop.run("up.sh")
    assert result.returncode == 0, result.stderr
    assert {call[1] for call in laptop.calls("pulumi") if call[2].startswith("up ")} == {cloned}
    assert "ghp_secret" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("git@github.com:acme/platform.git", "export PREFECT_PLATFORM_REPO_URL=https://github.com/acme/platform.git"),
        ("/home/me/prefect-platform", "a path on this machine"),
    ],
)  # fmt: skip
def test_up_refuses_a_repo_url_flow_runs_cannot_clone_before_changing_anything(
    laptop: Sandbox, url: str, says: str
) -> None:
    result = laptop.run("up.sh", PREFECT_PLATFORM_REPO_URL=url)
    assert result.returncode == 2
    assert says in result.stderr
    assert laptop.calls("pulumi") == [] and laptop.calls("kind") == []
    assert not (laptop.root / ".pulumi-state").exists()


def test_up_keeps_the_generated_salt_out_of_the_committed_stack_file(laptop: Sandbox) -> None:
    committed = (laptop.root / "Pulumi.local.yaml").read_bytes()

    first = laptop.run("up.sh")
    second = laptop.run("up.sh")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert (laptop.root / "Pulumi.local.yaml").read_bytes() == committed
    # Pulumi ran on the git-ignored copy: the committed settings plus this checkout's salt,
    # kept from the first run (the stack was created once).
    used = (laptop.state / "config-used-by-up.yaml").read_text()
    assert committed.decode() in used
    assert used.count("encryptionsalt: v1:salt-of-this-checkout") == 1
    creates = [c for c in laptop.calls("pulumi") if c[2].startswith("stack select local --create")]
    assert {c[0] for c in creates} == {str(laptop.root / ".pulumi-state" / "config")}
    for call in laptop.calls("pulumi"):
        if call[2].startswith("up "):
            assert (
                "--config-file " + str(laptop.root / ".pulumi-state/config/Pulumi.local.yaml")
                in call[2]
            )


def test_up_ignores_a_salt_an_older_script_left_in_the_committed_file(laptop: Sandbox) -> None:
    stack_file = laptop.root / "Pulumi.local.yaml"
    stack_file.write_text(stack_file.read_text() + "encryptionsalt: v1:another-checkout\n")
    committed = stack_file.read_bytes()

    result = laptop.run("up.sh")

    assert result.returncode == 0, result.stderr
    assert stack_file.read_bytes() == committed
    used = (laptop.state / "config-used-by-up.yaml").read_text()
    assert "another-checkout" not in used
    assert used.count("encryptionsalt:") == 1
    assert "Pulumi.local.yaml has an encryptionsalt line" in result.stdout


def test_prod_like_kubernetes_stacks_do_not_need_kind(laptop: Sandbox) -> None:
    (laptop.bin / "kind").unlink()
    result = laptop.run("up.sh", STACK="prod")
    assert "kind" not in result.stderr
    assert not (laptop.root / ".tools" / "kind").exists()
    assert laptop.calls("kind") == []  # no cluster created for prod ("prod" starts with "pr")


@pytest.mark.parametrize(("stack", "kind_cluster"), [("pr-123", True), ("prod", False)])
def test_only_local_and_pr_stacks_touch_the_kind_cluster(
    laptop: Sandbox, stack: str, kind_cluster: bool
) -> None:
    shutil.copy(laptop.root / "Pulumi.pr.yaml", laptop.root / "Pulumi.pr-123.yaml")
    assert laptop.run("up.sh", STACK=stack).returncode == 0
    down = laptop.run("down.sh", STACK=stack, FAKE_KIND_CLUSTERS="prefect-platform\n")
    assert down.returncode == 0, down.stderr
    kind = [call[0] for call in laptop.calls("kind")]
    assert ("create cluster --name prefect-platform" in " ".join(kind)) is kind_cluster
    assert ("delete cluster --name prefect-platform" in kind) is kind_cluster


def test_up_prints_the_host_s3_endpoint_beside_the_in_cluster_one(laptop: Sandbox) -> None:
    result = laptop.run("up.sh")
    assert result.returncode == 0, result.stderr
    assert "S3 endpoint: http://127.0.0.1:9000  (from this machine)" in result.stdout
    assert (
        "http://object-store.prefect.svc.cluster.local:9000  (as flow runs see it)" in result.stdout
    )


def test_up_prints_a_login_command_that_names_the_passphrase_file(laptop: Sandbox) -> None:
    result = laptop.run("up.sh")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    state = laptop.root / ".pulumi-state"
    login = (
        f"PULUMI_BACKEND_URL=file://{state} PULUMI_CONFIG_PASSPHRASE_FILE={state}/passphrase "
        "pulumi stack output authString --show-secrets --stack local"
    )
    assert login in out
    assert (state / "passphrase").stat().st_size > 0


def test_docker_stack_prints_its_published_s3_port(laptop: Sandbox) -> None:
    result = laptop.run("up.sh", STACK="docker")
    assert result.returncode == 0, result.stderr
    assert "S3 endpoint: http://127.0.0.1:9000  (from this machine)" in result.stdout
    assert laptop.calls("kind") == []


def test_host_endpoint_defaults_match_the_docker_target_defaults() -> None:
    from infra.config import DockerConfig

    spec = importlib.util.spec_from_file_location(
        "s3_host_endpoint", REPO / "scripts" / "s3_host_endpoint.py"
    )
    assert spec is not None and spec.loader is not None
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    defaults = DockerConfig()
    assert defaults.bind_address == helper.DOCKER_BIND_ADDRESS
    assert defaults.s3_port == helper.DOCKER_S3_PORT


# make down -------------------------------------------------------------------------------------


def test_down_finishes_when_the_kind_cluster_is_already_gone(laptop: Sandbox) -> None:
    assert laptop.run("up.sh").returncode == 0
    laptop.log.unlink()

    # The cluster was deleted by hand: a destroy could not reach it (and would fail).
    result = laptop.run("down.sh", FAKE_KIND_CLUSTERS="", FAKE_DESTROY_STATUS="1")

    assert result.returncode == 0, result.stderr
    commands = [call[2] for call in laptop.calls("pulumi")]
    assert not [c for c in commands if c.startswith("destroy")]
    assert "stack rm --yes --force --preserve-config --stack local --non-interactive" in commands
    assert not (laptop.state / "stack-local").exists()
    assert [c for c in laptop.calls("kind") if c[0].startswith("delete")] == []
    assert "is gone" in result.stdout
    assert not (laptop.root / ".pulumi-state/config/Pulumi.local.yaml").exists()


def test_down_destroys_removes_the_stack_and_deletes_the_cluster(laptop: Sandbox) -> None:
    assert laptop.run("up.sh").returncode == 0
    laptop.log.unlink()

    result = laptop.run("down.sh", FAKE_KIND_CLUSTERS="prefect-platform\n")

    assert result.returncode == 0, result.stderr
    commands = [call[2] for call in laptop.calls("pulumi")]
    destroy = [c for c in commands if c.startswith("destroy")]
    assert len(destroy) == 1
    assert (
        "--config-file " + str(laptop.root / ".pulumi-state/config/Pulumi.local.yaml") in destroy[0]
    )
    assert commands.index(destroy[0]) < commands.index(
        "stack rm --yes --preserve-config --stack local --non-interactive"
    )
    assert ["delete cluster --name prefect-platform"] in laptop.calls("kind")
    assert (laptop.root / "Pulumi.local.yaml").exists()


# kind and the Pulumi CLI, installed by up.sh ---------------------------------------------------


FAKE_KIND_RELEASE = FAKE_TOOL.format(name="kind").encode()


def _serve_kind(laptop: Sandbox, pinned: bytes) -> None:
    """kind is not on PATH; its release is on the local server; the pins name `pinned`'s hash."""
    (laptop.bin / "kind").unlink()
    (laptop.www / "v0.29.0").mkdir()
    (laptop.www / "v0.29.0" / "kind-linux-amd64").write_bytes(FAKE_KIND_RELEASE)
    uname = laptop.bin / "uname"
    uname.unlink()
    uname.write_text('#!/bin/sh\ncase "$1" in -s) echo Linux ;; -m) echo x86_64 ;; esac\n')
    uname.chmod(0o755)
    pins = laptop.root / "scripts" / "tool-versions.env"
    lines = [
        line
        for line in pins.read_text().splitlines()
        if not line.startswith("KIND_SHA256_LINUX_AMD64=")
    ]
    lines.append(f"KIND_SHA256_LINUX_AMD64={hashlib.sha256(pinned).hexdigest()}")
    pins.write_text("\n".join(lines) + "\n")
    laptop.env["KIND_RELEASES_URL"] = laptop.base_url


def test_up_installs_a_missing_kind_after_checking_its_checksum(laptop: Sandbox) -> None:
    _serve_kind(laptop, pinned=FAKE_KIND_RELEASE)

    result = laptop.run("up.sh")

    assert result.returncode == 0, result.stderr
    installed = laptop.root / ".tools" / "kind" / "v0.29.0" / "kind"
    assert installed.read_bytes() == FAKE_KIND_RELEASE
    assert f"downloading {laptop.base_url}/v0.29.0/kind-linux-amd64" in result.stdout
    # The downloaded kind is the one the script used.
    assert any(
        c[0].startswith("create cluster --name prefect-platform") for c in laptop.calls("kind")
    )
    # Next time it is used from .tools/ without a download.
    (laptop.www / "v0.29.0" / "kind-linux-amd64").unlink()
    assert laptop.run("up.sh").returncode == 0


def test_up_refuses_a_kind_download_whose_checksum_differs(laptop: Sandbox) -> None:
    _serve_kind(laptop, pinned=b"the release the pin was taken from")

    result = laptop.run("up.sh")

    assert result.returncode == 2
    assert "SHA-256 mismatch" in result.stderr
    assert not (laptop.root / ".tools" / "kind" / "v0.29.0" / "kind").exists()
    assert [p.name for p in (laptop.root / ".tools" / "kind" / "v0.29.0").iterdir()] == []
    assert laptop.calls("kind") == [] and laptop.calls("pulumi") == []
    assert not (laptop.root / ".pulumi-state").exists()


def test_up_installs_a_missing_pulumi_cli_from_its_verified_archive(laptop: Sandbox) -> None:
    import io
    import tarfile

    (laptop.bin / "pulumi").unlink()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        data = FAKE_PULUMI.encode()
        info = tarfile.TarInfo("pulumi/pulumi")
        info.size, info.mode = len(data), 0o755
        archive.addfile(info, io.BytesIO(data))
    release = buffer.getvalue()
    (laptop.www / "v3.272.0").mkdir()
    (laptop.www / "v3.272.0" / "pulumi-v3.272.0-linux-x64.tar.gz").write_bytes(release)
    _serve_kind(laptop, pinned=FAKE_KIND_RELEASE)
    pins = laptop.root / "scripts" / "tool-versions.env"
    pins.write_text(
        pins.read_text() + f"PULUMI_SHA256_LINUX_AMD64={hashlib.sha256(release).hexdigest()}\n"
    )

    result = laptop.run("up.sh", PULUMI_RELEASES_URL=laptop.base_url)

    assert result.returncode == 0, result.stderr
    pulumi = laptop.root / ".tools" / "pulumi" / "3.272.0" / "pulumi" / "pulumi"
    assert pulumi.read_bytes() == FAKE_PULUMI.encode()
    assert any(c[2].startswith("up ") for c in laptop.calls("pulumi"))
    # The login command names the installed CLI, which is not on the user's PATH.
    assert f"{pulumi} stack output authString" in result.stdout


def test_up_without_a_verified_pulumi_checksum_says_how_to_install_it(laptop: Sandbox) -> None:
    """The real pins carry no Pulumi checksum yet: no download, a clear way out."""
    (laptop.bin / "pulumi").unlink()
    _serve_kind(laptop, pinned=FAKE_KIND_RELEASE)

    result = laptop.run("up.sh", PULUMI_RELEASES_URL=laptop.base_url)

    assert result.returncode == 2
    assert "no verified checksum for linux-amd64 (PULUMI_SHA256_LINUX_AMD64)" in result.stderr
    assert "curl -fsSL https://get.pulumi.com | sh -s -- --version 3.272.0" in result.stderr
    assert not (laptop.root / ".tools" / "pulumi").exists()


def test_up_refuses_to_download_for_an_unsupported_platform(laptop: Sandbox) -> None:
    (laptop.bin / "kind").unlink()
    uname = laptop.bin / "uname"
    uname.unlink()
    uname.write_text('#!/bin/sh\ncase "$1" in -s) echo FreeBSD ;; -m) echo riscv64 ;; esac\n')
    uname.chmod(0o755)

    result = laptop.run("up.sh")

    assert result.returncode == 2
    assert "(this machine: FreeBSD-riscv64)" in result.stderr
    assert "go install sigs.k8s.io/kind@v0.29.0" in result.stderr
    assert not (laptop.root / ".tools").exists()
