"""A git "remote" for tests: a bare repository whose HEAD is ``main``.

It plays GitHub: deployments clone it by its ``file://`` URL, and tests change
what runs by committing and pushing a directory tree to it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

_GIT_ENV = {
    "GIT_AUTHOR_NAME": "platform-tests",
    "GIT_AUTHOR_EMAIL": "tests@example.invalid",
    "GIT_COMMITTER_NAME": "platform-tests",
    "GIT_COMMITTER_EMAIL": "tests@example.invalid",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity and return its stdout."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()


@dataclass
class GitRemote:
    """A bare repository and a working clone used to push to it."""

    bare: Path
    work: Path
    branch: str = "main"

    @property
    def url(self) -> str:
        """The URL deployments clone from."""
        return self.bare.as_uri()

    def push_tree(self, tree: Path, message: str = "update") -> str:
        """Replace the branch's content with `tree`, commit, push; return the commit sha."""
        for entry in self.work.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        shutil.copytree(
            tree,
            self.work,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", ".git"),
        )
        return self._commit_and_push(message)

    def push_files(self, files: dict[str, str], message: str = "update") -> str:
        """Write `files` (path -> text) over the current content, commit, push."""
        for relative, text in files.items():
            path = self.work / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        return self._commit_and_push(message)

    def _commit_and_push(self, message: str) -> str:
        git("add", "--all", cwd=self.work)
        git("commit", "--allow-empty", "-q", "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:{self.branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


def create_git_remote(workdir: Path, name: str = "flows") -> GitRemote:
    """Create a bare repository (HEAD -> main) and a clone to push from."""
    bare = workdir / f"{name}.git"
    work = workdir / f"{name}-work"
    bare.mkdir(parents=True)
    git("init", "-q", "--bare", "--initial-branch=main", str(bare), cwd=workdir)
    git("clone", "-q", str(bare), str(work), cwd=workdir)
    git("checkout", "-q", "-b", "main", cwd=work)
    return GitRemote(bare=bare, work=work)
