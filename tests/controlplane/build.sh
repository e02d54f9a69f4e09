#!/usr/bin/env bash
# Build (once per machine) the binaries of a real Kubernetes 1.20 control plane from Debian's sources:
# kube-apiserver, kube-controller-manager, kube-scheduler and etcd. Prints the directory holding them on its
# last line. A cache made before the scheduler was added gets only what is missing built (one binary).
#
# Honours KUBEBUILDER_ASSETS (the envtest convention): when it names a directory that already holds
# kube-apiserver, kube-scheduler and etcd, nothing is built and that directory is printed.
set -euo pipefail

log() { echo "[controlplane] $*" >&2; }

BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)

if [[ -n "${KUBEBUILDER_ASSETS:-}" && -x "${KUBEBUILDER_ASSETS}/kube-apiserver" \
  && -x "${KUBEBUILDER_ASSETS}/kube-scheduler" && -x "${KUBEBUILDER_ASSETS}/etcd" ]]; then
  log "using KUBEBUILDER_ASSETS=${KUBEBUILDER_ASSETS}"
  echo "${KUBEBUILDER_ASSETS}"
  exit 0
fi

CACHE="${TRAINING_HUB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/training-hub}"
OUT="${CACHE}/k8s-1.20.2/bin"
complete=1
for what in "${BINARIES[@]}" etcd; do
  [[ -x "${OUT}/${what}" ]] || complete=0
done
if ((complete)); then
  log "cached binaries in ${OUT}"
  echo "${OUT}"
  exit 0
fi

SUDO=""
[[ $(id -u) -ne 0 ]] && SUDO="sudo"

need_pkgs=()
for p in golang-go rsync etcd-server golang-github-modern-go-reflect2-dev dpkg-dev; do
  dpkg -s "$p" >/dev/null 2>&1 || need_pkgs+=("$p")
done
if [[ ! -f /etc/apt/sources.list.d/training-hub-src.sources ]]; then
  log "adding a deb-src entry for Debian bookworm main"
  $SUDO tee /etc/apt/sources.list.d/training-hub-src.sources >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  APT_UPDATED=0
fi
log "apt-get update"
$SUDO apt-get update -qq >&2
if ((${#need_pkgs[@]})); then
  log "installing ${need_pkgs[*]}"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >&2
fi

WORK="${CACHE}/k8s-src"
mkdir -p "${WORK}" "${OUT}"
cd "${WORK}"
if ! ls kubernetes_*.orig.tar.gz >/dev/null 2>&1; then
  log "downloading the kubernetes source package"
  apt-get source --download-only kubernetes >&2
fi
TARBALL=$(ls kubernetes_*.orig.tar.gz | head -n1)
SRC="${WORK}/src"
if [[ ! -f "${SRC}/.unpacked" ]]; then
  log "unpacking ${TARBALL}"
  rm -rf "${SRC}" && mkdir -p "${SRC}"
  tar -xzf "${TARBALL}" -C "${SRC}" --strip-components=1
  # The vendored reflect2 v1.0.1 crashes under Go >= 1.18; use Debian's 1.0.2.
  rm -rf "${SRC}/vendor/github.com/modern-go/reflect2"
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 "${SRC}/vendor/github.com/modern-go/reflect2"
  find "${SRC}/vendor/github.com/modern-go/reflect2" -name '*_test.go' -delete
  touch "${SRC}/.unpacked"
fi
cd "${SRC}"
export GOFLAGS="-mod=vendor"
export GOCACHE="${CACHE}/go-build"
for what in "${BINARIES[@]}"; do
  if [[ ! -x "${OUT}/${what}" ]]; then
    log "building ${what} (a few minutes on 2 cores)"
    make WHAT="cmd/${what}" >&2
    cp "$(find _output -type f -name "${what}" -perm -u+x | head -n1)" "${OUT}/${what}"
  fi
done
ln -sf "$(command -v etcd || echo /usr/bin/etcd)" "${OUT}/etcd"
log "built into ${OUT}"
echo "${OUT}"
