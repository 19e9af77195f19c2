#!/usr/bin/env bash
# One command up: tools (kind and the Pulumi CLI installed into .tools/ if missing) -> kind
# cluster (if missing) -> local Pulumi state -> stack `local` -> pulumi up -> wait for the
# server's health -> print the URLs. `STACK=docker scripts/up.sh` for Docker only.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

target="$(stack_target)"
require_tools "$target"

# prefect.yaml's pull steps clone this repository and branch (docs/gitops.md), over https.
repo_url="$(resolve_repo_url)"
export PREFECT_PLATFORM_REPO_URL="$repo_url"
export PREFECT_PLATFORM_BRANCH="${PREFECT_PLATFORM_BRANCH:-$(git rev-parse --abbrev-ref HEAD)}"

use_local_backend

if uses_kind_cluster "$target"; then
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
if uses_kind_cluster "$target"; then
  kind load docker-image "$flows_image" --name "$CLUSTER_NAME"
fi

say "stack $STACK (state in .pulumi-state/, config copy in ${STACK_CONFIG#"$REPO_ROOT"/})"
select_or_create_stack
ensure_declared_secrets --stack "$STACK" --config-file "$STACK_CONFIG"
pulumi up --yes --stack "$STACK" --config-file "$STACK_CONFIG" --non-interactive --skip-preview

api_url="$(pulumi stack output apiUrl --stack "$STACK")"
say "waiting for $api_url/health"
for _ in $(seq 1 120); do
  if curl -fsS --max-time 5 "$api_url/health" >/dev/null 2>&1; then
    break
  fi
  sleep 5
done
curl -fsS --max-time 5 "$api_url/health" >/dev/null || fail "the server at $api_url did not become healthy"

# The object store as flow runs reach it (in the cluster or Docker network), and from here.
s3_flows="$(pulumi stack output s3Endpoint --stack "$STACK" 2>/dev/null || true)"
kind_flag=()
if uses_kind_cluster "$target"; then kind_flag=(--kind-cluster); fi
s3_host="$(python scripts/s3_host_endpoint.py "Pulumi.$STACK.yaml" scripts/kind-config.yaml ${kind_flag[@]+"${kind_flag[@]}"} || true)"
if [[ -z "$s3_flows" || "$s3_flows" == null ]]; then
  s3_flows="none (this stack has no object store)"
  s3_host="none"
elif [[ -z "$s3_host" ]]; then
  namespace="$(sed -n 's/^ *prefect-platform:namespace: *\([a-z0-9-]*\).*/\1/p' "Pulumi.$STACK.yaml" | head -n1)"
  s3_host="not published on this machine: kubectl -n ${namespace:-prefect} port-forward svc/object-store 9000, then http://127.0.0.1:9000"
fi

cat <<MSG

Prefect is up (stack $STACK).
  UI:          $(pulumi stack output uiUrl --stack "$STACK")
  API:         $api_url
  S3 endpoint: $s3_host  (from this machine)
               $s3_flows  (as flow runs see it)
  Open the UI: $(pulumi stack output openUiCommand --stack "$STACK")
  Log in with: the user:password this prints:
               $(login_command)
MSG
