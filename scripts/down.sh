#!/usr/bin/env bash
# One command down: destroy the stack, then delete the kind cluster. Keeps Pulumi.<stack>.yaml.
# KEEP_CLUSTER=1 keeps the kind cluster.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$REPO_ROOT"

target="$(stack_target)"
require_tools "$target"
use_local_backend

if pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
  say "destroying stack $STACK"
  pulumi destroy --yes --stack "$STACK" --non-interactive --skip-preview
  pulumi stack rm --yes --preserve-config --stack "$STACK" --non-interactive
else
  say "no stack $STACK in .pulumi-state/: nothing to destroy"
fi

if [[ "$target" == "kubernetes" && "$STACK" =~ ^(local|pr) && -z "${KEEP_CLUSTER:-}" ]]; then
  if kind get clusters 2>/dev/null | grep -qx "$CLUSTER_NAME"; then
    say "deleting kind cluster $CLUSTER_NAME"
    kind delete cluster --name "$CLUSTER_NAME"
  fi
fi
if [[ "$target" == "docker" ]]; then
  say "data volumes are retained on purpose; to delete them: docker volume rm prefect-db-data prefect-s3-data"
fi
