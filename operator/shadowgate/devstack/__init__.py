"""The embedded local stack for development and tests (never used in production).

This package owns starting, checking and stopping a real control plane on loopback:
etcd, kube-apiserver and kube-controller-manager built from pinned sources, Debian's
Prometheus, and (when present) the node agent that runs Pods as local processes.

``Stack`` (in ``stack``) is the one entry point; the CLI (``shadowgate dev``), the pytest
fixtures and the demo all call it. ``layout`` names every file in a state directory, so
other tools (the node agent) can find the kubeconfig and the Prometheus file_sd folder.

The real node that replaces the node agent is being assembled here: ``node`` (containerd, CNI,
kubelet and kube-proxy settings), ``netns`` (the per-stack network namespace), ``relay`` (host
loopback <-> node), ``dns`` (CoreDNS), ``prometheus_sd`` (Kubernetes discovery from the chart's
relabelings) and ``images`` (the product's images built with buildah and imported into containerd).
"""
