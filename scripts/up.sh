#!/usr/bin/env bash
# One command up: kind cluster (if missing) -> local Pulumi state -> stack `local` -> pulumi up
# -> wait for the server's health -> print the URLs. `STACK=docker scripts/up.sh` for Docker only.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

target="$(stack_target)"
require_tools "$target"

# prefect.yaml's pull steps clone this repository and branch (docs/gitops.md).
export PREFECT_PLATFORM_REPO_URL="${PREFECT_PLATFORM_REPO_URL:-$(git remote get-url origin 2>/dev/null || true)}"
export PREFECT_PLATFORM_BRANCH="${PREFECT_PLATFORM_BRANCH:-$(git rev-parse --abbrev-ref HEAD)}"
if [[ -z "$PREFECT_PLATFORM_REPO_URL" ]]; then
  echo "error: no git remote 'origin': export PREFECT_PLATFORM_REPO_URL=https://github.com/<you>/<repo>.git" >&2
  exit 2
fi

use_local_backend

if [[ "$target" == "kubernetes" && "$STACK" =~ ^(local|pr) ]]; then
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    say "kind cluster $CLUSTER_NAME exists"
  else
    say "creating kind cluster $CLUSTER_NAME ($KIND_NODE_IMAGE)"
    kind create cluster --name "$CLUSTER_NAME" --image "$KIND_NODE_IMAGE" \
      --config scripts/kind-config.yaml --wait 180s
  fi
fi

# The pools and prefect.yaml run flows in this image (infra/components/versions.py FLOWS_IMAGE):
# built here, loaded into the kind cluster, or left on the Docker host for the `docker` stack.
flows_image="$(python -c 'from infra.components.versions import FLOWS_IMAGE; print(FLOWS_IMAGE)')"
say "building the flows image $flows_image"
docker build -f images/flows/Dockerfile -t "$flows_image" .
if [[ "$target" == "kubernetes" && "$STACK" =~ ^(local|pr) ]]; then
  kind load docker-image "$flows_image" --name "$CLUSTER_NAME"
fi

say "stack $STACK (state in .pulumi-state/)"
pulumi stack select "$STACK" --create --non-interactive
pulumi up --yes --stack "$STACK" --non-interactive --skip-preview

api_url="$(pulumi stack output apiUrl --stack "$STACK")"
say "waiting for $api_url/health"
for _ in $(seq 1 120); do
  if curl -fsS --max-time 5 "$api_url/health" >/dev/null 2>&1; then
    break
  fi
  sleep 5
done
curl -fsS --max-time 5 "$api_url/health" >/dev/null || fail "the server at $api_url did not become healthy"

cat <<MSG

Prefect is up (stack $STACK).
  UI:          $(pulumi stack output uiUrl --stack "$STACK")
  API:         $api_url
  S3 endpoint: $(pulumi stack output s3Endpoint --stack "$STACK")  (as flow runs see it)
  Open the UI: $(pulumi stack output openUiCommand --stack "$STACK")
  Log in with: pulumi stack output authString --show-secrets --stack $STACK
               (with PULUMI_BACKEND_URL=file://$STATE_DIR)
MSG
