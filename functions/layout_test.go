package functions

import (
	"os/exec"
	"strings"
	"testing"
)

// The dev machinery (simulator, dev stack, throw-away PKI, local server) is not product code: no
// function may link it, whatever a refactoring imports.
func TestNoFunctionLinksDevMachinery(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list found %d packages; is the module root right?", len(deps))
	}
	for _, d := range deps {
		if strings.Contains(d, "/shared/dev/") || strings.Contains(d, "/cmd/") {
			t.Errorf("a function links %s", d)
		}
	}
}
