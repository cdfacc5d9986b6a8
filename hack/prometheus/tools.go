//go:build tools

// Pins the Prometheus module for `go build github.com/prometheus/prometheus/cmd/...`.
package prometheus

import _ "github.com/prometheus/prometheus/cmd/prometheus"
