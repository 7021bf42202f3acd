//go:build tools

// The command this module builds: go build go.etcd.io/etcd/server/v3 (the etcd main package).
package tools

import _ "go.etcd.io/etcd/server/v3"
