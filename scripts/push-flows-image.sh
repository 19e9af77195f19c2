#!/usr/bin/env bash
# Build images/flows/Dockerfile and push it to a registry; run by .github/workflows/deploy.yml
# after `docker login`.
#
# Usage: scripts/push-flows-image.sh REGISTRY_PATH      (e.g. ghcr.io/owner/repo)
#
# Pushes <REGISTRY_PATH>/<name>:<tag> and :<tag>-<commit>, where <name>:<tag> is FLOWS_IMAGE
# (infra/components/versions.py), and prints one line for $GITHUB_OUTPUT:
#   reference=<REGISTRY_PATH>/<name>:<tag>@sha256:<digest>
# the exact bytes pushed, which the stack setting `prefect-platform:flowsImage` then names.
# Everything else goes to stderr.
set -euo pipefail
registry="${1:?usage: $0 REGISTRY_PATH (e.g. ghcr.io/owner/repo)}"
registry="${registry%/}"
cd "$(dirname "$0")/.."

# versions.py imports nothing, so it runs without the project's environment.
local_name="$(python3 -c 'import runpy; print(runpy.run_path("infra/components/versions.py")["FLOWS_IMAGE"])')"
name="${local_name%%:*}"
tag="${local_name#*:}"
commit="$(git rev-parse --short=12 HEAD)"
target="$registry/$name"

docker build -f images/flows/Dockerfile -t "$target:$tag" -t "$target:$tag-$commit" . >&2
docker push "$target:$tag-$commit" >&2
docker push "$target:$tag" >&2
digest="$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$target:$tag" \
  | grep -m1 "^$target@sha256:" || true)"
if [ -z "$digest" ]; then
  echo "the registry returned no digest for $target:$tag" >&2
  exit 1
fi
echo "reference=$target:$tag@${digest#*@}"
