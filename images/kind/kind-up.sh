#!/usr/bin/env bash
# Create a kind cluster, build and load the two Training Hub images, install the chart.
#
# Needs: docker, kind, kubectl, helm (3.8+ or 4). Run from anywhere:
#   images/kind/kind-up.sh                 # cluster "training-hub", images tagged :dev
#   SKIP_RUNTIME=1 images/kind/kind-up.sh  # do not build the (large, CUDA) runtime image
#   DRY_RUN=1 images/kind/kind-up.sh       # print the commands instead of running them
#
# Environment: CLUSTER (training-hub), NAMESPACE (training-hub-system), RELEASE (training-hub),
# OPERATOR_IMAGE (training-hub-operator:dev), RUNTIME_IMAGE (training-hub-runtime:dev).
# Tear down with: kind delete cluster --name "$CLUSTER".
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
CLUSTER="${CLUSTER:-training-hub}"
NAMESPACE="${NAMESPACE:-training-hub-system}"
RELEASE="${RELEASE:-training-hub}"
OPERATOR_IMAGE="${OPERATOR_IMAGE:-training-hub-operator:dev}"
RUNTIME_IMAGE="${RUNTIME_IMAGE:-training-hub-runtime:dev}"
SKIP_RUNTIME="${SKIP_RUNTIME:-0}"
DRY_RUN="${DRY_RUN:-0}"

run() {
  echo "+ $*" >&2
  if [[ "$DRY_RUN" != "1" ]]; then
    "$@"
  else
    echo "$*"
  fi
}

if [[ "$DRY_RUN" != "1" ]]; then
  for tool in docker kind kubectl helm; do
    command -v "$tool" >/dev/null 2>&1 || { echo "kind-up.sh: $tool is not installed" >&2; exit 1; }
  done
fi

# 1. The cluster (kept if it exists).
if [[ "$DRY_RUN" == "1" ]] || ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
  run kind create cluster --name "$CLUSTER" --wait 120s
fi

# 2. The images, built from the repository root, loaded into the kind nodes (no registry needed).
run docker build -f "$repo/images/operator/Dockerfile" -t "$OPERATOR_IMAGE" "$repo"
run kind load docker-image "$OPERATOR_IMAGE" --name "$CLUSTER"
if [[ "$SKIP_RUNTIME" != "1" ]]; then
  run docker build -f "$repo/images/runtime/Dockerfile" -t "$RUNTIME_IMAGE" "$repo"
  run kind load docker-image "$RUNTIME_IMAGE" --name "$CLUSTER"
fi

# 3. The chart: CRDs, operator, RBAC, runtime ServiceAccount (same values the tests install).
run helm upgrade --install "$RELEASE" "$repo/charts/training-hub" \
  --namespace "$NAMESPACE" --create-namespace \
  --values "$repo/images/kind/values-kind.yaml" \
  --set-string "image.repository=${OPERATOR_IMAGE%:*},image.tag=${OPERATOR_IMAGE##*:},runtime.image.repository=${RUNTIME_IMAGE%:*},runtime.image.tag=${RUNTIME_IMAGE##*:}"

# The chart names the Deployment after the release, adding "-training-hub" unless the name holds it already.
deployment="$RELEASE"
[[ "$RELEASE" == *training-hub* ]] || deployment="$RELEASE-training-hub"
run kubectl --namespace "$NAMESPACE" rollout status "deployment/$deployment" --timeout 180s
echo "Training Hub is running in kind cluster '$CLUSTER'. Next: docs/quickstart.md (kind section)." >&2
