#!/usr/bin/env bash
# Shared settings and checks for scripts/up.sh and scripts/down.sh (sourced, not run).

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Tool versions and release checksums, one place for the scripts, the Makefile and CI.
# shellcheck source-path=SCRIPTDIR source=tool-versions.env
source "$REPO_ROOT/scripts/tool-versions.env"

CLUSTER_NAME="${CLUSTER_NAME:-prefect-platform}"
STACK="${STACK:-local}"
STATE_DIR="$REPO_ROOT/.pulumi-state"
# kind and the Pulumi CLI, when they are not on PATH, are installed here (git-ignored).
TOOLS_DIR="$REPO_ROOT/.tools"
# Where their releases are downloaded from (a mirror, or a local server in the tests).
KIND_RELEASES_URL="${KIND_RELEASES_URL:-https://github.com/kubernetes-sigs/kind/releases/download}"
PULUMI_RELEASES_URL="${PULUMI_RELEASES_URL:-https://github.com/pulumi/pulumi/releases/download}"
# Pulumi's copy of the stack config: the committed Pulumi.<stack>.yaml plus this checkout's
# passphrase salt (see sync_stack_config).
STACK_CONFIG_DIR="$STATE_DIR/config"
STACK_CONFIG="$STACK_CONFIG_DIR/Pulumi.$STACK.yaml"

say() { printf '==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }
error() { printf 'error: %s\n' "$*" >&2; }

# The stack's target (kubernetes | docker | external), read from Pulumi.<stack>.yaml.
stack_target() {
  local file="$REPO_ROOT/Pulumi.$STACK.yaml" stacks="" found
  if [[ ! -f "$file" ]]; then
    for found in "$REPO_ROOT"/Pulumi.*.yaml; do
      found="${found##*/Pulumi.}"
      stacks+="${found%.yaml} "
    done
    fail "no stack file $file (stacks: $stacks)"
  fi
  sed -n 's/^ *prefect-platform:target: *\([a-z]*\).*/\1/p' "$file" | head -n1
}

# True for the stacks that run on this kit's own kind cluster: `local`, `pr` and the per-PR
# copies `pr-<n>` (not `prod`, whose name also starts with "pr").
uses_kind_cluster() {
  [[ "$1" == "kubernetes" && "$STACK" =~ ^(local|pr)(-[A-Za-z0-9._-]+)?$ ]]
}

# This machine as <os>-<arch>: linux-amd64, linux-arm64, darwin-amd64 or darwin-arm64 (else the
# raw `uname` names, which no release is downloaded for).
host_platform() {
  local os arch
  os="$(uname -s)"
  arch="$(uname -m)"
  case "$os" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
  esac
  case "$arch" in
    x86_64 | amd64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
  esac
  printf '%s-%s\n' "$os" "$arch"
}

# How to install a tool by hand (what the error messages print).
manual_install() {
  case "$1" in
    kind) printf 'go install sigs.k8s.io/kind@%s  (or https://kind.sigs.k8s.io/docs/user/quick-start/#installation)' "$KIND_VERSION" ;;
    pulumi) printf 'curl -fsSL https://get.pulumi.com | sh -s -- --version %s' "$PULUMI_VERSION" ;;
  esac
}

# Put kind or pulumi on PATH: the one already there, else the pinned release in .tools/,
# downloaded the first time and used only once its SHA-256 matches scripts/tool-versions.env.
# Returns 1 with an error message when it cannot (no checksum for this platform, download failed).
ensure_tool() {
  local name="$1" version bin_dir dest url platform key sha
  case "$name" in
    kind) version="$KIND_VERSION" bin_dir="$TOOLS_DIR/kind/$KIND_VERSION" ;;
    pulumi) version="$PULUMI_VERSION" bin_dir="$TOOLS_DIR/pulumi/$PULUMI_VERSION/pulumi" ;;
    *) fail "ensure_tool: unknown tool $name" ;;
  esac
  if command -v "$name" >/dev/null 2>&1; then
    return 0
  fi
  if [[ -x "$bin_dir/$name" ]]; then
    PATH="$bin_dir:$PATH"
    return 0
  fi

  platform="$(host_platform)"
  case "$platform" in
    linux-amd64 | linux-arm64 | darwin-amd64 | darwin-arm64) ;;
    *)
      error "$name $version is not on PATH, and this kit downloads it only for linux-amd64, linux-arm64, darwin-amd64 and darwin-arm64 (this machine: $platform). Install it yourself: $(manual_install "$name")"
      return 1
      ;;
  esac
  key="$(printf '%s_SHA256_%s' "$name" "$platform" | tr 'abcdefghijklmnopqrstuvwxyz-' 'ABCDEFGHIJKLMNOPQRSTUVWXYZ_')"
  sha="${!key:-}"
  if [[ -z "$sha" ]]; then
    error "$name $version is not on PATH, and scripts/tool-versions.env has no verified checksum for $platform ($key), so it is not downloaded. Install it yourself: $(manual_install "$name")"
    return 1
  fi

  case "$name" in
    kind)
      url="$KIND_RELEASES_URL/$version/kind-$platform"
      dest="$bin_dir/kind"
      say "kind $version is not on PATH: downloading $url into ${dest#"$REPO_ROOT"/}"
      "$REPO_ROOT/scripts/install-tool.sh" "$url" "$sha" "$dest" || {
        error "kind $version was not installed: install it yourself: $(manual_install kind)"
        return 1
      }
      ;;
    pulumi)
      url="$PULUMI_RELEASES_URL/v$version/pulumi-v$version-${platform/amd64/x64}.tar.gz"
      dest="$TOOLS_DIR/pulumi/$version"
      say "pulumi $version is not on PATH: downloading $url into ${dest#"$REPO_ROOT"/}"
      "$REPO_ROOT/scripts/install-tool.sh" --tar-gz "$url" "$sha" "$dest" || {
        error "pulumi $version was not installed: install it yourself: $(manual_install pulumi)"
        return 1
      }
      ;;
  esac
  if [[ ! -x "$bin_dir/$name" ]]; then
    error "$url was verified and unpacked, but has no executable ${bin_dir#"$REPO_ROOT"/}/$name"
    return 1
  fi
  PATH="$bin_dir:$PATH"
}

# Check the tools for the stack's target. Docker, curl and uv are named and the script stops
# (exit 2) before anything changes; kind (for the kind stacks) and the Pulumi CLI are then
# installed into .tools/ when they are missing (ensure_tool); a failure there stops it too.
require_tools() {
  local target="$1" missing=()
  if [[ "$target" != "external" ]]; then
    if ! command -v docker >/dev/null 2>&1; then
      missing+=("docker: install Docker Engine 24+ or Docker Desktop (https://docs.docker.com/engine/install/)")
    elif ! docker info >/dev/null 2>&1; then
      missing+=("docker: installed, but the daemon is not answering (start Docker, or add your user to the docker group)")
    fi
  fi
  if ! command -v uv >/dev/null 2>&1; then
    missing+=("uv: curl -LsSf https://astral.sh/uv/install.sh | sh  (Pulumi.yaml runs the program with toolchain uv; \`make up\` installs uv $UV_VERSION itself)")
  fi
  if ! command -v curl >/dev/null 2>&1; then
    missing+=("curl: install it with your package manager (downloads missing tools, waits for the server's health)")
  fi
  if ((${#missing[@]})); then
    printf 'error: missing tools for stack %q (target %s). Install:\n' "$STACK" "$target" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    if uses_kind_cluster "$target"; then
      printf 'Then run this again: it installs kind %s and pulumi %s into .tools/ if they are missing.\n' "$KIND_VERSION" "$PULUMI_VERSION" >&2
    else
      printf 'Then run this again: it installs pulumi %s into .tools/ if it is missing.\n' "$PULUMI_VERSION" >&2
    fi
    exit 2
  fi
  if uses_kind_cluster "$target"; then
    ensure_tool kind || exit 2
  fi
  ensure_tool pulumi || exit 2
  export PATH
}

# Local Pulumi state in .pulumi-state/ (git-ignored); no Pulumi Cloud account needed.
use_local_backend() {
  mkdir -p "$STATE_DIR"
  chmod 700 "$STATE_DIR"
  export PULUMI_BACKEND_URL="file://$STATE_DIR"
  if [[ -z "${PULUMI_CONFIG_PASSPHRASE:-}" && -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    # A generated passphrase for the local stacks' secrets, kept beside the state.
    if [[ ! -s "$STATE_DIR/passphrase" ]]; then
      (umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$STATE_DIR/passphrase")
    fi
    export PULUMI_CONFIG_PASSPHRASE_FILE="$STATE_DIR/passphrase"
  fi
  # A stack whose config copy has no salt (a new checkout of .pulumi-state/config, or a state made
  # before that copy existed) reuses the salt recorded in its state instead of minting a new one.
  export PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER=true
  export PULUMI_SKIP_UPDATE_CHECK=true
}

# Pulumi records the stack's passphrase salt (`encryptionsalt`) in the stack's config file. In the
# committed Pulumi.<stack>.yaml it would break every other checkout (their passphrase differs), so
# Pulumi works on a git-ignored copy instead: $STACK_CONFIG, rebuilt from the committed file on
# every run, keeping the salt Pulumi wrote into the copy before. The committed file is only read.
sync_stack_config() {
  local tracked="$REPO_ROOT/Pulumi.$STACK.yaml" salt=""
  mkdir -p "$STACK_CONFIG_DIR"
  if [[ -f "$STACK_CONFIG" ]]; then
    salt="$(sed -n 's/^encryptionsalt: *//p' "$STACK_CONFIG" | head -n1)"
  fi
  if grep -q '^encryptionsalt:' "$tracked"; then
    say "note: Pulumi.$STACK.yaml has an encryptionsalt line (written by an older version of this script); it is ignored, the salt of this checkout lives in ${STACK_CONFIG#"$REPO_ROOT"/}. Delete that line (and do not commit it)."
  fi
  cp "$REPO_ROOT/Pulumi.yaml" "$STACK_CONFIG_DIR/Pulumi.yaml"
  {
    grep -v '^encryptionsalt:' "$tracked" || true
    if [[ -n "$salt" ]]; then printf '\nencryptionsalt: %s\n' "$salt"; fi
  } >"$STACK_CONFIG.tmp"
  mv "$STACK_CONFIG.tmp" "$STACK_CONFIG"
}

# Select the stack, creating it if needed. Creation runs beside the config copy (a copy of
# Pulumi.yaml is there), so the salt Pulumi generates lands in the copy, not the committed file.
select_or_create_stack() {
  sync_stack_config
  (cd "$STACK_CONFIG_DIR" && pulumi stack select "$STACK" --create --non-interactive)
}

# The URL of a git repository flow runs can clone (prefect.yaml's git_clone step, in a flow-run
# pod or container that has neither this checkout nor an ssh key): https, or http.
# PREFECT_PLATFORM_REPO_URL wins; else `origin`, whose ssh form (git@host:owner/repo.git,
# ssh://git@host/owner/repo.git) is converted to https. Credentials in the URL are dropped (they
# would be stored in the deployments in plain text; private repositories use the githubToken
# setting, docs/gitops.md). An ssh URL set by hand, or a local path, is refused (exit 2).
resolve_repo_url() {
  local url source https
  if [[ -n "${PREFECT_PLATFORM_REPO_URL:-}" ]]; then
    url="$PREFECT_PLATFORM_REPO_URL" source="PREFECT_PLATFORM_REPO_URL"
  else
    url="$(git -C "$REPO_ROOT" remote get-url origin 2>/dev/null || true)" source="git remote origin"
  fi
  if [[ -z "$url" ]]; then
    error "no git remote 'origin': export PREFECT_PLATFORM_REPO_URL=https://github.com/<you>/<repo>.git (the repository flow runs clone)"
    exit 2
  fi
  case "$url" in
    https://* | http://*) https="$url" ;;
    ssh://* | git+ssh://* | git://*)
      https="$(printf '%s' "$url" | sed -E 's#^[a-z+]+://([^@/]*@)?([^:/]+)(:[0-9]+)?/#https://\2/#')"
      ;;
    file://* | /* | ./* | ../*)
      error "$source is $url, a path on this machine: flow runs clone the repository from inside the platform and cannot read it. Push it to a git server and export PREFECT_PLATFORM_REPO_URL=https://<host>/<owner>/<repo>.git"
      exit 2
      ;;
    *@*:* | *:*)
      # scp-like ssh: [user@]host:owner/repo.git
      https="$(printf '%s' "$url" | sed -E 's#^([^@/]*@)?([^:/]+):/?#https://\2/#')"
      ;;
    *)
      error "$source is $url, which flow runs cannot clone: export PREFECT_PLATFORM_REPO_URL=https://<host>/<owner>/<repo>.git"
      exit 2
      ;;
  esac
  if [[ "$https" != "$url" ]]; then
    if [[ "$source" == "PREFECT_PLATFORM_REPO_URL" ]]; then
      error "PREFECT_PLATFORM_REPO_URL is $url, not an https URL: flow runs clone over https and have no ssh key: export PREFECT_PLATFORM_REPO_URL=$https (private repositories: the githubToken setting, docs/gitops.md)"
      exit 2
    fi
    say "origin is $url; flow runs clone over https, so they use $https (export PREFECT_PLATFORM_REPO_URL to choose another)" >&2
  fi
  if [[ "$https" =~ ^(https?://)[^/@]*@(.*)$ ]]; then
    https="${BASH_REMATCH[1]}${BASH_REMATCH[2]}"
    say "note: dropped the credentials in the URL of $source: flow runs clone $https (private repositories: the githubToken setting, docs/gitops.md)" >&2
  fi
  printf '%s\n' "$https"
}

# The command that prints the admin login (user:password) of the stack, with the state backend
# and the passphrase it needs, so it works from a fresh shell.
login_command() {
  local pulumi_cmd="pulumi" passphrase
  if [[ "$(command -v pulumi)" == "$TOOLS_DIR"/* ]]; then
    pulumi_cmd="$(command -v pulumi)"
  fi
  if [[ -n "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]]; then
    passphrase="PULUMI_CONFIG_PASSPHRASE_FILE=$PULUMI_CONFIG_PASSPHRASE_FILE"
  else
    passphrase="PULUMI_CONFIG_PASSPHRASE=<your passphrase>"
  fi
  printf 'PULUMI_BACKEND_URL=file://%s %s %s stack output authString --show-secrets --stack %s' \
    "$STATE_DIR" "$passphrase" "$pulumi_cmd" "$STACK"
}

# The config secrets webhooks/ and blocks/ name (scripts/declared_secrets.py). A webhook's
# secret is one the sender and the gateway share: a stack without it gets a generated one,
# which the sender is then given (`pulumi config get`). A block's secret comes from elsewhere
# (a Slack URL, a password): a missing one stops here, before `pulumi up`, naming the command.
# Arguments: what `pulumi config` needs to find the stack (`--stack S [--config-file F]`).
ensure_declared_secrets() {
  local kind key
  while read -r kind key; do
    if pulumi config get "prefect-platform:$key" "$@" >/dev/null 2>&1; then
      continue
    fi
    if [[ "$kind" == webhook ]]; then
      head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' \
        | pulumi config set --secret "prefect-platform:$key" "$@"
      say "generated the webhook secret prefect-platform:$key; give it to the sender: pulumi config get prefect-platform:$key $*"
    else
      fail "blocks/ takes prefect-platform:$key from the stack's secrets: pulumi config set --secret prefect-platform:$key <value> $*"
    fi
  done < <(python "$REPO_ROOT/scripts/declared_secrets.py" "$REPO_ROOT")
}
