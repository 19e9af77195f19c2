#!/usr/bin/env bash
# One command down: destroy the stack, remove it from the local state, then delete the kind
# cluster. Keeps Pulumi.<stack>.yaml. KEEP_CLUSTER=1 keeps the kind cluster. When the stack's kind
# cluster is already gone, everything the stack created went with it: the stack is removed from
# the state without a destroy (which could not reach the cluster).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

target="$(stack_target)"
require_tools "$target"
use_local_backend

cluster_exists=1
if uses_kind_cluster "$target" && ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
  cluster_exists=0
fi

if pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
  sync_stack_config
  if ((cluster_exists)); then
    say "destroying stack $STACK"
    pulumi destroy --yes --stack "$STACK" --config-file "$STACK_CONFIG" --non-interactive --skip-preview
    pulumi stack rm --yes --preserve-config --stack "$STACK" --non-interactive
  else
    say "kind cluster $CLUSTER_NAME is gone, and with it everything stack $STACK created: removing the stack from .pulumi-state/ without a destroy"
    pulumi stack rm --yes --force --preserve-config --stack "$STACK" --non-interactive
  fi
  rm -f "$STACK_CONFIG"
else
  say "no stack $STACK in .pulumi-state/: nothing to destroy"
fi

if uses_kind_cluster "$target" && ((cluster_exists)) && [[ -z "${KEEP_CLUSTER:-}" ]]; then
  say "deleting kind cluster $CLUSTER_NAME"
  kind delete cluster --name "$CLUSTER_NAME"
fi
if [[ "$target" == "docker" ]]; then
  say "data volumes are retained on purpose; to delete them: docker volume rm prefect-db-data prefect-s3-data"
fi
