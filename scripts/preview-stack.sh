#!/usr/bin/env bash
# Select (or create) the pull request's stack and point it at this job's kind cluster; run by
# .github/workflows/preview.yml after `pulumi login`.
#
# The preview's kind cluster lives as long as its job. A run that failed or was cancelled before
# its `pulumi destroy` leaves a stack whose state lists objects of a cluster (and a Prefect
# server) that no longer exist; refreshing or updating them fails (connection refused) and
# wedges every later run. Such a stack is removed first, so `pulumi up` starts from nothing.
#
# Environment: STACK, CLUSTER (names), GITHUB_TOKEN_FOR_FLOWS (the token flow runs clone with).
set -euo pipefail
: "${STACK:?STACK is not set}" "${CLUSTER:?CLUSTER is not set}"
: "${GITHUB_TOKEN_FOR_FLOWS:?GITHUB_TOKEN_FOR_FLOWS is not set}"
cd "$(dirname "$0")/.."

if pulumi stack select "$STACK" --non-interactive >/dev/null 2>&1; then
  left="$(pulumi stack export --stack "$STACK" | python3 -c \
    'import json, sys; print(len(json.load(sys.stdin).get("deployment", {}).get("resources") or []))')"
  if [ "$left" -gt 0 ]; then
    echo "Stack $STACK lists $left resources from an earlier run whose cluster is gone: removing it."
    pulumi stack rm "$STACK" --yes --force --non-interactive
  fi
fi

# Pulumi.pr.yaml is the template of every PR stack's configuration.
cp Pulumi.pr.yaml "Pulumi.$STACK.yaml"
pulumi stack select --create "$STACK" --non-interactive
pulumi config set kubernetes:context "kind-$CLUSTER" --stack "$STACK"
# The Secret block `github-token` that prefect.yaml's pull step reads.
printf '%s' "$GITHUB_TOKEN_FOR_FLOWS" | pulumi config set --secret githubToken --stack "$STACK"
# The secrets webhooks/ and blocks/ name: webhook secrets generated for the preview.
# shellcheck source-path=SCRIPTDIR source=lib.sh
source scripts/lib.sh
ensure_declared_secrets --stack "$STACK"
