#!/usr/bin/env bash
# Builds the local stack's pinned binaries from the Go module proxy into a cache
# outside the repo. A binary already in the cache is never rebuilt, so a warm
# machine builds nothing. Usage: hack/build-binaries.sh [--print-dir]
set -euo pipefail

K8S_VERSION=v1.36.3
ETCD_VERSION=v3.6.8
HELM_VERSION=v3.22.0

here=$(cd "$(dirname "$0")" && pwd)
cache=${SHADOWGATE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shadowgate}
bin="$cache/bin/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-helm-$HELM_VERSION"
if [[ "${1:-}" == "--print-dir" ]]; then echo "$bin"; exit 0; fi
mkdir -p "$bin"
# Serialize concurrent callers (dev up, test fixtures, a developer by hand): the second waits
# and then finds everything cached instead of racing on the same outputs.
exec 9>"$bin/.build.lock"
flock 9

export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
# Two cores: let go use both, but no more (the default already is nproc).
build() { # module-dir output package ldflags [build-tags]
  local dir=$1 out=$2 pkg=$3 ldflags=$4 tags=${5:-}
  if [[ -x "$bin/$out" ]]; then echo "cached: $bin/$out"; return; fi
  local start=$SECONDS
  echo "building $out ($pkg) ..."
  (cd "$here/$dir" && go build -trimpath -tags "$tags" -ldflags "-s -w $ldflags" -o "$bin/$out.tmp.$$" "$pkg")
  mv "$bin/$out.tmp.$$" "$bin/$out"   # atomic: an interrupted build leaves no half binary
  echo "built $out in $((SECONDS - start)) s"
}

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
kv="-X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION"
build etcd etcd . ""
build k8s kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver "$kv"
build k8s kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager "$kv"
build k8s kubectl k8s.io/kubernetes/cmd/kubectl "$kv"
# The real node: scheduler, kubelet and kube-proxy from the same pinned module as the API server.
build k8s kube-scheduler k8s.io/kubernetes/cmd/kube-scheduler "$kv"
build k8s kubelet k8s.io/kubernetes/cmd/kubelet "$kv"
build k8s kube-proxy k8s.io/kubernetes/cmd/kube-proxy "$kv"
# Cluster DNS: CoreDNS with only the plugins it needs and no forward (hack/coredns/main.go).
# Its version is the require in hack/coredns/go.mod alone; the cache dir is not named by it,
# so after a bump delete "$bin/coredns" (or the whole dir) to rebuild.
build coredns coredns . ""
# Prometheus with Kubernetes discovery only (Debian's has none; remove_all_sd drops the cloud ones).
prom_tags=remove_all_sd,enable_kubernetes_sd
build prometheus prometheus github.com/prometheus/prometheus/cmd/prometheus "" "$prom_tags"
build prometheus promtool github.com/prometheus/prometheus/cmd/promtool "" "$prom_tags"
build helm helm helm.sh/helm/v3/cmd/helm "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
echo "$bin"
