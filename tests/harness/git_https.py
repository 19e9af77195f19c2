"""The harness's bare git repository served over HTTPS with basic auth, as GitHub serves one.

Prefect's ``git_clone`` pull step puts an access token into ``https`` URLs only, so
the ``file://`` remote of `git_remote` never exercises the token. This serves the
same bare repositories over ``https://127.0.0.1:PORT/<name>.git``:

- nginx (Debian package ``nginx``) terminates TLS on a free loopback port and
  checks basic auth, then hands the request to ``git http-backend`` (from the
  ``git`` package) through ``fcgiwrap`` (package ``fcgiwrap``);
- the TLS certificate is signed by a throwaway CA made for the session with the
  ``cryptography`` package; clients trust it by ``GIT_SSL_CAINFO`` (see
  `HttpsGitServer.client_env`);
- basic auth accepts what Prefect sends for a generic host: the token as the
  user name and an empty password (``https://TOKEN@host/...``), which is also
  what github.com accepts for a personal access token. Nothing else passes.

nginx writes no access log (a URL with userinfo must never reach a file), and both
processes are `ManagedProcess`es: stopped at the end, killed with the test runner.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import os
import secrets
import shutil
import signal
import ssl
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from .git_remote import GitRemote
from .processes import ManagedProcess, free_port

GIT_HTTP_BACKEND = Path("/usr/lib/git-core/git-http-backend")

#: Each program the server needs, and the Debian package that ships it.
DEBIAN_PACKAGES: dict[str, str] = {
    "nginx": "nginx",
    "fcgiwrap": "fcgiwrap",
    "git-http-backend": "git",
}

_SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])


def _program(name: str) -> str | None:
    """Where a program of the server is (nginx and fcgiwrap live in sbin)."""
    if name == "git-http-backend":
        return str(GIT_HTTP_BACKEND) if os.access(GIT_HTTP_BACKEND, os.X_OK) else None
    return shutil.which(name, path=_SBIN_PATH)


def missing_packages() -> list[str]:
    """The Debian packages to install before the server can start (empty: nothing missing)."""
    return sorted({package for name, package in DEBIAN_PACKAGES.items() if not _program(name)})


@dataclass
class HttpsGitServer:
    """A running HTTPS git server over one `GitRemote`, and what a client needs for it."""

    base_url: str
    remote: GitRemote
    token: str
    ca_cert: Path
    nginx: ManagedProcess = field(repr=False)
    fcgiwrap: ManagedProcess = field(repr=False)

    @property
    def url(self) -> str:
        """The repository's clone URL, without credentials (what a deployment names)."""
        return f"{self.base_url}/{self.remote.bare.name}"

    def client_env(self) -> dict[str, str]:
        """Environment a git client (a worker, its flow runs) needs to trust the server."""
        return {"GIT_SSL_CAINFO": str(self.ca_cert)}

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context trusting the session's CA, for httpx."""
        return ssl.create_default_context(cafile=str(self.ca_cert))

    def stop(self) -> None:
        """Stop nginx, then fcgiwrap."""
        try:
            self.nginx.stop()
        finally:
            self.fcgiwrap.stop()


def write_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost it signed.

    Returns:
        (CA certificate, server certificate, server key), all PEM files in `directory`.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.UTC)
    valid_from, valid_to = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "platform-tests throwaway CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )

    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid_from)
        .not_valid_after(valid_to)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )

    ca_path, cert_path, key_path = (directory / n for n in ("ca.pem", "server.pem", "server.key"))
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return ca_path, cert_path, key_path


def htpasswd_line(user: str, password: str) -> str:
    """One nginx ``auth_basic_user_file`` line, the password as salted SHA-1 (``{SSHA}``)."""
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return f"{user}:{{SSHA}}{base64.b64encode(digest + salt).decode()}\n"


_NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
{user}
pid {dir}/nginx.pid;
error_log stderr warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {dir}/tmp/body;
    fastcgi_temp_path {dir}/tmp/fastcgi;
    proxy_temp_path {dir}/tmp/proxy;
    uwsgi_temp_path {dir}/tmp/uwsgi;
    scgi_temp_path {dir}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        server_name 127.0.0.1 localhost;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
        location / {{
            auth_basic "private git repositories";
            auth_basic_user_file {dir}/htpasswd;
            client_max_body_size 0;
            fastcgi_pass unix:{socket};
            fastcgi_param SCRIPT_FILENAME {backend};
            fastcgi_param GIT_PROJECT_ROOT {root};
            fastcgi_param GIT_HTTP_EXPORT_ALL "";
            fastcgi_param GIT_CONFIG_NOSYSTEM 1;
            fastcgi_param PATH_INFO $uri;
            fastcgi_param QUERY_STRING $query_string;
            fastcgi_param REQUEST_METHOD $request_method;
            fastcgi_param CONTENT_TYPE $content_type;
            fastcgi_param CONTENT_LENGTH $content_length;
            fastcgi_param GIT_PROTOCOL $http_git_protocol;
            fastcgi_param HTTP_GIT_PROTOCOL $http_git_protocol;
            fastcgi_param SERVER_PROTOCOL $server_protocol;
        }}
    }}
}}
"""


def start_https_git_server(
    workdir: Path, remote: GitRemote, token: str | None = None
) -> HttpsGitServer:
    """Serve `remote` (and any bare repository beside it) over HTTPS with token auth.

    Args:
        workdir: where the certificates, configuration, socket and logs go.
        remote: the bare repository to serve; its folder is the project root.
        token: the only credential accepted (default: a new ``ghp_``-like token).

    Raises:
        RuntimeError: a program is missing (naming the Debian packages), or a
            process did not start.
    """
    missing = missing_packages()
    if missing:
        raise RuntimeError(f"HTTPS git server needs the Debian packages {', '.join(missing)}")
    workdir.mkdir(parents=True, exist_ok=True)
    for sub in ("body", "fastcgi", "proxy", "uwsgi", "scgi"):
        (workdir / "tmp" / sub).mkdir(parents=True, exist_ok=True)
    token = token or f"ghp_{secrets.token_hex(18)}"
    ca_cert, cert, key = write_certificates(workdir / "tls")
    (workdir / "htpasswd").write_text(htpasswd_line(token, ""))
    socket = workdir / "fcgiwrap.sock"
    port = free_port()
    (workdir / "nginx.conf").write_text(
        _NGINX_CONF.format(
            # A root master would run its worker as `nobody`, which cannot reach the socket.
            user="user root root;" if os.geteuid() == 0 else "",
            dir=workdir,
            port=port,
            cert=cert,
            key=key,
            socket=socket,
            backend=GIT_HTTP_BACKEND,
            root=remote.bare.parent,
        )
    )

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    fcgiwrap = ManagedProcess(
        "fcgiwrap",
        [str(_program("fcgiwrap")), "-c", "4", "-s", f"unix:{socket}"],
        env=env,
        log_path=workdir / "fcgiwrap.log",
        cwd=workdir,
    )
    try:
        fcgiwrap.wait_until(socket.exists, 15, "socket")
        nginx = ManagedProcess(
            "nginx[git-https]",
            [
                str(_program("nginx")),
                "-e",
                "stderr",
                "-p",
                str(workdir),
                "-c",
                str(workdir / "nginx.conf"),
            ],
            env=env,
            log_path=workdir / "nginx.log",
            cwd=workdir,
            stop_signal=signal.SIGQUIT,
        )
    except BaseException:
        fcgiwrap.stop()
        raise
    server = HttpsGitServer(
        base_url=f"https://127.0.0.1:{port}",
        remote=remote,
        token=token,
        ca_cert=ca_cert,
        nginx=nginx,
        fcgiwrap=fcgiwrap,
    )

    def asks_for_credentials() -> bool:
        try:
            response = httpx.get(
                f"{server.url}/info/refs?service=git-upload-pack",
                verify=server.ssl_context(),
                timeout=2,
            )
        except httpx.HTTPError:
            return False
        return response.status_code == 401

    try:
        nginx.wait_until(asks_for_credentials, 30, "401 over HTTPS")
    except BaseException:
        server.stop()
        raise
    return server
