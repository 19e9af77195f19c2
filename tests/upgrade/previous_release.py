"""The previous minor Prefect release, installed in a virtual environment of the tests' own.

The project environment holds the Prefect the platform runs (3.9.1, `uv.lock`); the upgrade test
also needs the release before it, to make a database the way that version leaves it. That one is
never a project dependency: it is installed here, with uv, into a venv cached across runs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PREVIOUS_PREFECT = "3.8.8"
"""The release the upgrade test starts from: the newest 3.8.x on PyPI, the minor before the 3.9.1
the platform pins (`infra/config.py` `prefect_image_tag`, `uv.lock`). Pinned here only; move it
to the newest release of the previous minor when the platform moves to a new minor."""

DEPENDENCIES_AS_OF = "2026-10-07T00:00:00Z"
"""Its dependencies are resolved as of the day after its release (`uv pip install
--exclude-newer`; prefect 3.8.8 was uploaded 2026-10-06): its requirements have no upper bounds,
and later releases broke it (FastAPI 0.165 dropped `Body(min_items=...)`, which 3.8.8's server
imports). Move it with `PREVIOUS_PREFECT`."""

CACHE_ENV = "PLATFORM_TEST_CACHE_DIR"
"""Overrides where the venv is cached (default `$XDG_CACHE_HOME/prefect-platform-tests`)."""

REPO = Path(__file__).resolve().parents[2]


def cache_root() -> Path:
    """The folder that holds the cached venvs, one per Prefect version."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "prefect-platform-tests"


def venv_dir() -> Path:
    """Where the venv lives: keyed by the Prefect version, the Python version and the date its
    dependencies are resolved at, so changing any of them builds a new one."""
    python = f"py{sys.version_info.major}.{sys.version_info.minor}"
    return cache_root() / f"prefect-{PREVIOUS_PREFECT}-{python}-deps{DEPENDENCIES_AS_OF[:10]}"


def uv_binary() -> str:
    """uv: the one `uv run` names in `$UV`, else the one on PATH, else `make`'s `.tools/uv`."""
    for candidate in (os.environ.get("UV"), shutil.which("uv"), str(REPO / ".tools/uv/bin/uv")):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError("uv is not on PATH (run through `make` or `uv run`)")


def installed_version(python: Path) -> str | None:
    """The Prefect version `python` imports, or None if it cannot import one."""
    if not python.is_file():
        return None
    result = subprocess.run(
        [str(python), "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return result.stdout.strip() if result.returncode == 0 else None


def ensure_previous_prefect() -> tuple[Path, float]:
    """The python of a venv with prefect==`PREVIOUS_PREFECT`, and the seconds spent installing
    it (0 if it was cached).

    The venv is built in a temporary sibling folder and renamed into place when complete, so a
    run that is killed half-way leaves no broken venv, and of two concurrent runs one rename
    wins while the other drops its copy. Its Python is this interpreter's (`uv venv --python`):
    callers run `python -m prefect`, never the venv's console scripts, whose shebangs would name
    the temporary folder.
    """
    version = PREVIOUS_PREFECT
    target = venv_dir()
    python = target / "bin" / "python"
    if installed_version(python) == version:
        return python, 0.0
    started = time.monotonic()
    target.parent.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        uv = uv_binary()
        env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "UV_PROJECT")}
        _run([uv, "venv", "--quiet", "--python", sys.executable, str(building)], env)
        _run(
            [
                uv,
                "pip",
                "install",
                "--quiet",
                "--compile-bytecode",  # once here, not at each run's first import
                "--python",
                str(building / "bin" / "python"),
                "--exclude-newer",
                DEPENDENCIES_AS_OF,
                f"prefect=={version}",
            ],
            env,
        )
        if installed_version(building / "bin" / "python") != version:
            raise RuntimeError(f"the venv in {building} does not import prefect {version}")
        building.chmod(0o755)  # mkdtemp made it private
        if target.exists():  # a stale or broken copy (a complete one returned above)
            shutil.rmtree(target, ignore_errors=True)
        try:
            building.rename(target)
        except OSError:
            # Another run renamed its complete copy first.
            if installed_version(python) != version:
                raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    return python, time.monotonic() - started


def _run(argv: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False, timeout=900)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
