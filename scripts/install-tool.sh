#!/usr/bin/env bash
# Download one release file, check its SHA-256, and only then put it in place.
#
#   scripts/install-tool.sh URL SHA256 DEST            a single binary: DEST is the executable
#   scripts/install-tool.sh --tar-gz URL SHA256 DEST   a .tar.gz: DEST is the folder it unpacks into
#
# The download goes to a temporary file in DEST's own folder. When its SHA-256 is not the expected
# one, the file is removed, nothing is installed, and the exit status is 1 with both hashes named.
# DEST appears only through a rename in that folder, so it is either absent or complete: an
# interrupted or refused download leaves no half-installed tool behind.
# scripts/lib.sh calls this for kind and the Pulumi CLI (pins: scripts/tool-versions.env).
set -euo pipefail

fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

archive=0
if [[ "${1:-}" == "--tar-gz" ]]; then
  archive=1
  shift
fi
if (($# != 3)); then
  printf 'usage: %s [--tar-gz] URL SHA256 DEST\n' "$0" >&2
  exit 2
fi
url="$1"
expected="$(printf '%s' "$2" | tr 'A-F' 'a-f')"
dest="$3"
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail "the expected SHA-256 must be 64 hex digits, got '$2'"

# sha256sum (GNU coreutils) or shasum (macOS).
sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    fail "neither sha256sum nor shasum is installed: install coreutils (or perl's shasum) to verify downloads"
  fi
}

dest_dir="$(dirname "$dest")"
mkdir -p "$dest_dir"
download="$(mktemp "$dest_dir/.download.XXXXXX")"
unpacked=""
cleanup() {
  rm -f "$download"
  if [[ -n "$unpacked" ]]; then rm -rf "$unpacked"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

status=0
curl --fail --silent --show-error --location --retry 3 --connect-timeout 20 \
  --output "$download" "$url" || status=$?
if ((status != 0)); then
  fail "could not download $url (curl exit status $status): check the network (or a proxy), or install the tool yourself; nothing was installed"
fi

actual="$(sha256_of "$download")"
if [[ "$actual" != "$expected" ]]; then
  fail "SHA-256 mismatch for $url: expected $expected, got $actual. The download was removed and nothing was installed; if the pin in scripts/tool-versions.env is right, the file was altered or truncated in transit"
fi

if ((archive)); then
  unpacked="$(mktemp -d "$dest_dir/.unpack.XXXXXX")"
  tar -xzf "$download" -C "$unpacked" || fail "could not unpack $url (verified, but not a .tar.gz?); nothing was installed"
  chmod 755 "$unpacked"
  rm -rf "$dest"
  mv "$unpacked" "$dest"
  unpacked=""
else
  chmod 755 "$download"
  mv -f "$download" "$dest"
fi
printf '==> installed %s (SHA-256 %s verified)\n' "$dest" "$expected" >&2
