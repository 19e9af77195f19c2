#!/usr/bin/env bash
# Shared settings and checks for scripts/up.sh and scripts/down.sh (sourced, not run).

# Versions this kit was tested with (the Pulumi CLI matches the pulumi SDK in uv.lock).
KIND_VERSION="v0.29.0"
KIND_NODE_IMAGE="kindest/node:v1.33.1"
PULUMI_VERSION="3.272.0"
CLUSTER_NAME="${CLUSTER_NAME:-prefect-platform}"
STACK="${STACK:-local}"

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE_DIR="$REPO_ROOT/.pulumi-state"

say() { printf '==> %s\n' "$*"; }
fail() { printf 'error: %s\n' "$*" >&2; exit 1; }

# The stack's target (kubernetes | docker | external), read from Pulumi.<stack>.yaml.
stack_target() {
  local file="$REPO_ROOT/Pulumi.$STACK.yaml"
  [[ -f "$file" ]] || fail "no stack file $file (stacks: $(cd "$REPO_ROOT" && ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | tr '\n' ' '))"
  sed -n 's/^ *prefect-platform:target: *\([a-z]*\).*/\1/p' "$file" | head -n1
}

# Exit with one message listing every missing tool and how to install it.
require_tools() {
  local target="$1" missing=()
  if [[ "$target" != "external" ]]; then
    if ! command -v docker >/dev/null 2>&1; then
      missing+=("docker: install Docker Engine 24+ or Docker Desktop (https://docs.docker.com/engine/install/)")
    elif ! docker info >/dev/null 2>&1; then
      missing+=("docker: installed, but the daemon is not answering (start Docker, or add your user to the docker group)")
    fi
  fi
  if [[ "$target" == "kubernetes" ]] && ! command -v kind >/dev/null 2>&1; then
    missing+=("kind $KIND_VERSION: go install sigs.k8s.io/kind@$KIND_VERSION  (or https://kind.sigs.k8s.io/docs/user/quick-start/#installation)")
  fi
  if ! command -v pulumi >/dev/null 2>&1; then
    missing+=("pulumi $PULUMI_VERSION: curl -fsSL https://get.pulumi.com | sh -s -- --version $PULUMI_VERSION")
  fi
  if ! command -v uv >/dev/null 2>&1; then
    missing+=("uv: curl -LsSf https://astral.sh/uv/install.sh | sh  (Pulumi.yaml runs the program with toolchain uv)")
  fi
  if ! command -v curl >/dev/null 2>&1; then
    missing+=("curl: install it with your package manager (used to wait for the server's health)")
  fi
  if ((${#missing[@]})); then
    printf 'error: missing tools for stack %q (target %s). Install:\n' "$STACK" "$target" >&2
    printf '  - %s\n' "${missing[@]}" >&2
    exit 2
  fi
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
  export PULUMI_SKIP_UPDATE_CHECK=true
}
