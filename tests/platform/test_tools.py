"""scripts/install-tool.sh and scripts/tool-versions.env: pinned tools, downloaded and verified.

The installer runs for real against a local HTTP server: the right SHA-256 installs the file,
a wrong one installs nothing and leaves no temporary file behind. The pins file is read the two
ways the kit reads it (bash `source`, Make `include`) and must give the same values.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.harness.mockstack import REPO

INSTALLER = REPO / "scripts" / "install-tool.sh"
PINS = REPO / "scripts" / "tool-versions.env"
PLATFORMS = ("LINUX_AMD64", "LINUX_ARM64", "DARWIN_AMD64", "DARWIN_ARM64")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output clean."""


@pytest.fixture
def release_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP server (like `python -m http.server`) serving a folder: (base URL, folder)."""
    root = tmp_path / "releases"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _install(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(INSTALLER), *argv], capture_output=True, text=True, check=False, timeout=60
    )


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


BINARY = b"#!/bin/sh\necho fake kind v0.29.0\n"


def test_right_checksum_installs_the_binary(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    (root / "kind-linux-amd64").write_bytes(BINARY)
    dest = tmp_path / ".tools" / "kind" / "v0.29.0" / "kind"

    result = _install(f"{base}/kind-linux-amd64", _sha256(BINARY), str(dest))

    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == BINARY
    assert dest.stat().st_mode & 0o111
    assert subprocess.run([str(dest)], capture_output=True, text=True).stdout.strip() == (
        "fake kind v0.29.0"
    )
    assert "SHA-256" in result.stderr and "verified" in result.stderr
    assert _leftovers(dest.parent) == []


def test_checksum_is_compared_case_insensitively(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    (root / "kind").write_bytes(BINARY)
    dest = tmp_path / "kind"
    result = _install(f"{base}/kind", _sha256(BINARY).upper(), str(dest))
    assert result.returncode == 0, result.stderr
    assert dest.read_bytes() == BINARY


def test_wrong_checksum_is_refused_and_nothing_is_left(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    (root / "kind-linux-amd64").write_bytes(BINARY)
    dest = tmp_path / ".tools" / "kind" / "v0.29.0" / "kind"
    wrong = _sha256(b"what the pin says")

    result = _install(f"{base}/kind-linux-amd64", wrong, str(dest))

    assert result.returncode == 1
    assert f"expected {wrong}, got {_sha256(BINARY)}" in result.stderr
    assert "nothing was installed" in result.stderr
    assert not dest.exists()
    assert _leftovers(dest.parent) == []  # the temporary download was removed


def test_a_refused_download_keeps_the_installed_tool(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    dest = tmp_path / "kind"
    dest.write_bytes(b"the verified one")
    (root / "kind").write_bytes(b"tampered")

    result = _install(f"{base}/kind", _sha256(b"the verified one"), str(dest))

    assert result.returncode == 1
    assert dest.read_bytes() == b"the verified one"
    assert _leftovers(tmp_path) == []


def test_a_failed_download_names_the_url_and_leaves_nothing(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, _ = release_server
    dest = tmp_path / "tools" / "kind"

    result = _install(f"{base}/missing", _sha256(BINARY), str(dest))

    assert result.returncode == 1
    assert f"could not download {base}/missing" in result.stderr
    assert not dest.exists()
    assert _leftovers(dest.parent) == []


def test_archive_is_unpacked_only_after_its_checksum_matches(
    release_server: tuple[str, Path], tmp_path: Path
) -> None:
    base, root = release_server
    archive = _tar_gz({"pulumi/pulumi": b"#!/bin/sh\n", "pulumi/pulumi-language-python": b"x"})
    (root / "pulumi-v3.272.0-linux-x64.tar.gz").write_bytes(archive)
    url = f"{base}/pulumi-v3.272.0-linux-x64.tar.gz"
    dest = tmp_path / ".tools" / "pulumi" / "3.272.0"

    refused = _install("--tar-gz", url, _sha256(b"other"), str(dest))
    assert refused.returncode == 1
    assert not dest.exists()
    assert _leftovers(dest.parent) == []

    accepted = _install("--tar-gz", url, _sha256(archive), str(dest))
    assert accepted.returncode == 0, accepted.stderr
    assert sorted(p.name for p in (dest / "pulumi").iterdir()) == [
        "pulumi",
        "pulumi-language-python",
    ]
    assert _leftovers(dest.parent) == []


def test_malformed_checksum_is_refused_before_downloading(tmp_path: Path) -> None:
    result = _install("http://127.0.0.1:9/never", "abc123", str(tmp_path / "kind"))
    assert result.returncode == 1
    assert "64 hex digits" in result.stderr
    assert list(tmp_path.iterdir()) == []


def _pins_by_python() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in PINS.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*=[^\s'\"]+", line), f"not KEY=VALUE: {line!r}"
            key, value = line.split("=", 1)
            pins[key] = value
    return pins


def test_pins_file_has_the_versions_and_well_formed_checksums() -> None:
    pins = _pins_by_python()
    assert pins["UV_VERSION"] == "0.13.9"
    assert pins["KIND_VERSION"] == "v0.29.0"
    assert pins["PULUMI_VERSION"] == "3.272.0"
    for platform in PLATFORMS:
        assert re.fullmatch(r"[0-9a-f]{64}", pins[f"KIND_SHA256_{platform}"])
    checksums = {key: value for key, value in pins.items() if "_SHA256_" in key}
    assert set(checksums) <= {
        f"{tool}_SHA256_{p}" for tool in ("KIND", "PULUMI") for p in PLATFORMS
    }
    assert len(set(checksums.values())) == len(checksums)


def test_pins_file_reads_the_same_in_bash_and_make() -> None:
    pins = _pins_by_python()
    names = " ".join(pins)
    from_bash = subprocess.run(
        ["bash", "-c", f'set -eu; source "$0"; for k in {names}; do echo "$k=${{!k}}"; done', PINS],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    makefile = f"include {PINS}\nprint:\n" + "".join(f"\t@echo {k}=$({k})\n" for k in pins)
    from_make = subprocess.run(
        ["make", "-s", "-f", "-", "print"],
        input=makefile,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = "".join(f"{k}={v}\n" for k, v in pins.items())
    assert from_bash == expected
    assert from_make == expected


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_makefile_takes_uv_version_from_the_pins_file() -> None:
    makefile = (REPO / "Makefile").read_text()
    assert not re.search(r"^UV_VERSION\s*[?:]?=", makefile, re.MULTILINE)
    printed = subprocess.run(
        ["make", "-s", "-C", str(REPO), "-f", "Makefile", "-f", "-", "print-uv-version"],
        input="print-uv-version:\n\t@echo $(UV_VERSION)\n",
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert printed == _pins_by_python()["UV_VERSION"]


def test_scripts_read_their_pins_from_the_file() -> None:
    lib = (REPO / "scripts" / "lib.sh").read_text()
    assert not re.search(r"^(KIND|PULUMI|UV)_VERSION=", lib, re.MULTILINE)
    shown = subprocess.run(
        [
            "bash",
            "-c",
            'source "$0"; echo "$KIND_VERSION $PULUMI_VERSION"',
            REPO / "scripts/lib.sh",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pins = _pins_by_python()
    assert shown == f"{pins['KIND_VERSION']} {pins['PULUMI_VERSION']}"
