// Command exportguard checks that every cgo //export function in the given packages
// starts with `defer guard(&result)`, so no Go panic can escape into a C caller.
//
// Usage:
//
//	go run ./cmd/exportguard ./capi
//	go vet -vettool=$(go env GOPATH)/bin/exportguard ./capi
//
// It exits with status 3 when it reports a violation and 1 when the packages do not load.
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/mlxprim/mlxprim/internal/exportguard"
)

func main() { singlechecker.Main(exportguard.Analyzer) }
