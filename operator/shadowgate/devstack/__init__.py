"""The embedded local stack for development and tests (never used in production, never in an image).

This package owns starting, checking and stopping a real single-node Kubernetes cluster on this
machine: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and kube-proxy
built from the pinned k8s.io/kubernetes module, CoreDNS and Prometheus (with Kubernetes discovery)
built from the Go module proxy, and Debian's containerd, runc and CNI plugins, all inside one
network namespace per stack, plus the product's images built with buildah from the repo's
Dockerfiles and imported into the node.

``Stack`` (in ``stack``) is the one entry point; the CLI (``shadowgate dev``), the pytest
fixtures and the demo all call it. ``layout`` names every file in a state directory;
``node_components`` builds each daemon's command line and health check; ``node`` holds the
containerd, CNI, kubelet and kube-proxy settings; ``node_lifecycle`` and ``node_host`` prepare the
host, drain the node and clean up after it (mounts, cgroups, sysctls); ``netns`` the namespace,
``relay`` host loopback <-> node; ``dns`` CoreDNS; ``prometheus`` and ``prometheus_sd`` the scrape
configuration generated from the chart's relabelings; ``images`` the product's images.
"""
