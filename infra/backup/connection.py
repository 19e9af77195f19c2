"""Database and object-store settings of a backup, read from the environment (never argv).

The database URL may be Prefect's SQLAlchemy form (`postgresql+asyncpg://user:pw@host/db`) or a
plain libpq URL; it is split into libpq's `PG*` environment variables so that neither `pg_dump`,
`pg_restore` nor `psql` ever gets the password on its command line.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

DATABASE_URL_ENVS = (
    "PLATFORM_BACKUP_DATABASE_URL",
    "PREFECT_SERVER_DATABASE_CONNECTION_URL",
    "PREFECT_API_DATABASE_CONNECTION_URL",
)
"""Where the database URL is read from, first set wins."""

ENDPOINT_ENV = "AWS_ENDPOINT_URL"
"""S3 endpoint (MinIO, SeaweedFS...); unset: AWS S3 itself."""

KEY_ENVS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
"""The S3 keys (the stack outputs `s3AccessKey` and `s3SecretKey`)."""

_SCHEMES = {"postgresql", "postgres", "postgresql+asyncpg", "postgresql+psycopg"}
_QUERY_TO_ENV = {
    "sslmode": "PGSSLMODE",
    "ssl": "PGSSLMODE",  # asyncpg's spelling
    "sslrootcert": "PGSSLROOTCERT",
    "sslcert": "PGSSLCERT",
    "sslkey": "PGSSLKEY",
    "connect_timeout": "PGCONNECT_TIMEOUT",
    "application_name": "PGAPPNAME",
}


class BackupError(RuntimeError):
    """A backup or restore cannot go on; the message says what is wrong (never a secret)."""


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database as libpq environment variables."""

    host: str
    port: int
    user: str
    name: str
    password: str | None = field(default=None, repr=False)
    options: Mapping[str, str] = field(default_factory=dict)

    @property
    def display(self) -> str:
        """`user@host:port/name`, safe for messages."""
        return f"{self.user}@{self.host}:{self.port}/{self.name}"

    def env(self) -> dict[str, str]:
        """The process environment for libpq tools: this database, no stray `PG*` setting."""
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        env.update(
            PGHOST=self.host,
            PGPORT=str(self.port),
            PGUSER=self.user,
            PGDATABASE=self.name,
            **self.options,
        )
        if self.password is not None:
            env["PGPASSWORD"] = self.password
        return env

    def scrub(self, text: str) -> str:
        """`text` with the password (if any) replaced by `***`."""
        return text.replace(self.password, "***") if self.password else text


def parse_database_url(url: str) -> Database:
    """A `Database` from a SQLAlchemy or libpq URL.

    Raises:
        BackupError: not a PostgreSQL URL, no database name, or an unsupported query parameter.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in _SCHEMES:
        raise BackupError(
            f"the database URL has scheme {parts.scheme!r}; expected one of "
            f"{', '.join(sorted(_SCHEMES))} (a PostgreSQL database)"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name or "/" in name:
        raise BackupError("the database URL names no database (…/<database> at its end)")
    options: dict[str, str] = {}
    for key, value in parse_qsl(parts.query):
        if key not in _QUERY_TO_ENV:
            raise BackupError(
                f"the database URL has the query parameter {key!r}, which a backup does not "
                f"support (supported: {', '.join(sorted(_QUERY_TO_ENV))})"
            )
        options[_QUERY_TO_ENV[key]] = value
    try:
        port = parts.port or 5432
    except ValueError as error:
        raise BackupError("the database URL has an invalid port") from error
    return Database(
        host=parts.hostname or "localhost",
        port=port,
        user=unquote(parts.username) if parts.username else os.environ.get("USER", "postgres"),
        name=name,
        password=unquote(parts.password) if parts.password is not None else None,
        options=options,
    )


def database_from_env(environ: Mapping[str, str] | None = None) -> Database:
    """The database named by the first of `DATABASE_URL_ENVS` that is set.

    Raises:
        BackupError: none is set, or the URL is not usable.
    """
    environ = os.environ if environ is None else environ
    for name in DATABASE_URL_ENVS:
        if environ.get(name):
            return parse_database_url(environ[name])
    raise BackupError(
        f"no database URL: set {DATABASE_URL_ENVS[0]} (or {' or '.join(DATABASE_URL_ENVS[1:])}) "
        "to the server's database, e.g. postgresql+asyncpg://prefect:…@host:5432/prefect"
    )


@dataclass(frozen=True)
class ObjectStore:
    """Where backups go: an S3 bucket and key prefix, keys from the environment."""

    bucket: str
    prefix: str = "backups/"
    endpoint_url: str | None = None

    @property
    def location(self) -> str:
        """`s3://bucket/prefix` (at the endpoint), for messages."""
        where = f" at {self.endpoint_url}" if self.endpoint_url else ""
        return f"s3://{self.bucket}/{self.prefix}{where}"


def object_store(
    bucket: str,
    prefix: str = "backups/",
    endpoint_url: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> ObjectStore:
    """The object store of a backup; the endpoint defaults to `AWS_ENDPOINT_URL`.

    Raises:
        BackupError: the S3 keys are not in the environment, or bucket or prefix are malformed.
    """
    environ = os.environ if environ is None else environ
    missing = [name for name in KEY_ENVS if not environ.get(name)]
    if missing:
        raise BackupError(
            f"{' and '.join(missing)} not set: export the object store's keys (for a stack: "
            "`pulumi stack output s3AccessKey --show-secrets`, and s3SecretKey)"
        )
    if not bucket or "/" in bucket:
        raise BackupError(f"{bucket!r} is not a bucket name")
    prefix = prefix.strip("/")
    return ObjectStore(
        bucket=bucket,
        prefix=f"{prefix}/" if prefix else "",
        endpoint_url=endpoint_url or environ.get(ENDPOINT_ENV) or None,
    )
