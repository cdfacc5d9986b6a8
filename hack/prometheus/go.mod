// Builds Prometheus and promtool with Kubernetes service discovery for the real node's
// Prometheus: Debian's prometheus package is built without it (promtool rejects
// kubernetes_sd_configs), and so is every Prometheus Operator config it would be fed.
module shadowgate.dev/hack/prometheus

go 1.25.0

require github.com/prometheus/prometheus v0.311.0 // indirect
