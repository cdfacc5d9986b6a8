#!/usr/bin/env bash
# Installs everything shadowgate's demo and tests need on a fresh machine of this kind:
# Debian's prometheus (with promtool), a Python virtualenv with the project and its dev
# tools, and the Go-built Kubernetes/etcd/helm binaries (cached outside the repo).
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# promtool on PATH for the unit tests that check rules, metrics and configs with it.
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v openssl >/dev/null || need_apt+=(openssl)
# The node's images (shadowgate.devstack.images): buildah builds the Dockerfiles on a debootstrap
# base, gcc with static libc makes the pause binary, ctr imports them into containerd (run by runc).
command -v buildah >/dev/null || need_apt+=(buildah)
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v gcc >/dev/null || need_apt+=(gcc)
[[ -f /usr/lib/x86_64-linux-gnu/libc.a ]] || need_apt+=(libc6-dev)
command -v containerd >/dev/null || need_apt+=(containerd)
command -v runc >/dev/null || need_apt+=(runc)
# The real node: CNI plugins (bridge, host-local, loopback), kube-proxy's iptables and conntrack,
# ip and nsenter for the node's network namespace.
[[ -x /usr/lib/cni/bridge ]] || need_apt+=(containernetworking-plugins)
command -v iptables >/dev/null || need_apt+=(iptables)
command -v conntrack >/dev/null || need_apt+=(conntrack)
command -v ip >/dev/null || need_apt+=(iproute2)
command -v nsenter >/dev/null || need_apt+=(util-linux)
if ((${#need_apt[@]})); then
  echo "bootstrap: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.shadowgate-installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
  echo "bootstrap: pip install -e .[dev] (torch is large the first time; pip's cache serves later runs)"
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[dev]'
  touch "$stamp"
fi

hack/build-binaries.sh
