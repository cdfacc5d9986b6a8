// Command coredns is upstream CoreDNS with only the plugins the local stack's cluster DNS
// needs, built from the Go module proxy. It imports plugins one by one instead of
// github.com/coredns/coredns/core/plugin (which pulls in every plugin: cloud SDKs, etcd,
// dnstap, ...), so the binary is smaller and the build faster.
//
// Deliberately absent: forward (and grpc, any other upstream): the cluster must never send a
// query off the machine. A query for a zone no server block serves is answered REFUSED by
// the server itself, at once.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

// directives is the subsequence of upstream's plugin.cfg (core/dnsserver/zdirectives.go)
// for the plugins imported above. The order is the order a query passes through the
// plugins, whatever the order in the Corefile, so it must keep upstream's relative order:
// cache before kubernetes (it caches kubernetes' answers), loop after it.
var directives = []string{
	"reload",
	"bind",
	"ready",
	"health",
	"errors",
	"log",
	"cache",
	"kubernetes",
	"loop",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
