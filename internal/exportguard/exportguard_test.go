package exportguard_test

import (
	"testing"

	"golang.org/x/tools/go/analysis/analysistest"

	"github.com/mlxprim/mlxprim/internal/exportguard"
)

// TestRule checks each way an //export function can follow or break the rule; the
// expected diagnostics are the `// want` comments in testdata/src.
func TestRule(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), exportguard.Analyzer,
		"a", "otherpkg", "varguard", "norecover", "lostexport")
}

// TestCgo runs the analyzer on a real cgo package, whose files reach it after cgo
// processing: //export comments must survive and positions must map back to the source.
func TestCgo(t *testing.T) {
	analysistest.Run(t, analysistest.TestData(), exportguard.Analyzer, "cgoexports")
}
