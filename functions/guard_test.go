package functions

// cfn-guard with AWS Control Tower's proactive-control rules, on the SAM-transformed template as
// CloudFormation would deploy it with each parameter set (guard does not evaluate Fn::If, so the
// raw transformed template would be judged on conditions it never deploys). The rules and the
// cfn-guard 3.1.1 binary come from npm's @cdklabs/cdk-validator-cfnguard, installed into the
// repository's .cache/ (`.ci/run` does it); findings that are not fixed are suppressed, each with a
// one-line reason, in testdata/cfn-guard-suppressions.txt.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const (
	guardVersion = "3.1.1"
	guardInstall = "npm install --prefix .cache --no-save --no-package-lock --legacy-peer-deps @cdklabs/cdk-validator-cfnguard@0.0.62"
)

// guardTool is the bundled cfn-guard binary and the Control Tower rules directory.
func guardTool(t *testing.T) (bin, rules string) {
	t.Helper()
	pkg := filepath.Join(moduleRoot(t), ".cache", "node_modules", "@cdklabs", "cdk-validator-cfnguard")
	osDir := map[string]string{"linux": "ubuntu", "darwin": "macos"}[runtime.GOOS]
	arch := map[string]string{"amd64": "x86_64", "arm64": "aarch64"}[runtime.GOARCH]
	bin = filepath.Join(pkg, "bin", osDir, arch, "cfn-guard")
	rules = filepath.Join(pkg, "rules", "control-tower", "cfn-guard")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("cfn-guard is not installed (%v): run at the repository root\n  %s", err, guardInstall)
	}
	var v struct{ Version string }
	b, err := os.ReadFile(filepath.Join(pkg, "guard-version.json"))
	if err == nil {
		err = json.Unmarshal(b, &v)
	}
	if err != nil || v.Version != guardVersion {
		t.Fatalf("the installed package bundles cfn-guard %q (%v), want %s: run\n  %s", v.Version, err, guardVersion, guardInstall)
	}
	return bin, rules
}

// suppression waives one control for matching resources in matching parameter sets.
type suppression struct {
	line                  int
	control, resource, in string
	why                   string
	used                  bool
}

func (s *suppression) matches(set string, f guardFinding) bool {
	if s.control != f.control {
		return false
	}
	if ok, _ := path.Match(s.resource, f.resource); !ok {
		return false
	}
	if s.in == "*" {
		return true
	}
	for _, n := range strings.Split(s.in, ",") {
		if n == set {
			return true
		}
	}
	return false
}

var suppressionLine = regexp.MustCompile(`^(CT\.[A-Z0-9]+\.PR\.[0-9]+)\s+(\S+)\s+(\S+)\s+(.+)$`)

func readSuppressions(t *testing.T) []*suppression {
	t.Helper()
	f, err := os.Open(filepath.Join(moduleRoot(t), "functions", "testdata", "cfn-guard-suppressions.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*suppression
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		m := suppressionLine.FindStringSubmatch(l)
		if m == nil || len(strings.Fields(m[4])) < 4 {
			t.Errorf("suppressions line %d is not `CONTROL RESOURCE-GLOB SETS justification`: %q", n, l)
			continue
		}
		for _, s := range strings.Split(m[3], ",") {
			if s != "*" && paramSets[s] == nil {
				t.Errorf("suppressions line %d names parameter set %q, which does not exist", n, s)
			}
		}
		out = append(out, &suppression{line: n, control: m[1], resource: m[2], in: m[3], why: m[4]})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type guardFinding struct{ control, rule, resource, message string }

var (
	controlID    = regexp.MustCompile(`\[(CT\.[A-Z0-9]+\.PR\.[0-9]+)\]`)
	resourcePath = regexp.MustCompile(`^/Resources/([^/\[]+)`)
)

// guardFindings runs cfn-guard on one template and lists each non-compliant (control, resource).
func guardFindings(t *testing.T, bin, rules, file string) []guardFinding {
	t.Helper()
	cmd := exec.Command(bin, "validate", "--rules", rules, "--data", file, "--structured", "--output-format", "json", "--show-summary", "none")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	// Exit 19: validation found non-compliant resources; anything else non-zero is a failure to run.
	var exit *exec.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 19) {
		t.Fatalf("cfn-guard validate %s: %v\n%s", file, err, stderr.String())
	}
	var reports []struct {
		NotCompliant []struct {
			Rule json.RawMessage `json:"Rule"`
		} `json:"not_compliant"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &reports); err != nil {
		t.Fatalf("cfn-guard printed no JSON report: %v\n%s", err, stdout.String())
	}
	seen := map[guardFinding]bool{}
	var out []guardFinding
	for _, r := range reports {
		for _, nc := range r.NotCompliant {
			var tree any
			if err := json.Unmarshal(nc.Rule, &tree); err != nil {
				t.Fatal(err)
			}
			name, _ := get(tree, "name").(string)
			control, message := "", ""
			resources := map[string]bool{}
			var walk func(any)
			walk = func(v any) {
				switch v := v.(type) {
				case obj:
					for k, e := range v {
						if s, ok := e.(string); ok {
							if m := controlID.FindStringSubmatch(s); m != nil && control == "" {
								control, message = m[1], strings.Join(strings.Fields(s), " ")
							}
							if m := resourcePath.FindStringSubmatch(s); m != nil && k == "path" {
								resources[m[1]] = true
							}
						}
						walk(e)
					}
				case []any:
					for _, e := range v {
						walk(e)
					}
				}
			}
			walk(tree)
			if control == "" {
				control = name
			}
			if len(resources) == 0 {
				resources["-"] = true
			}
			for res := range resources {
				f := guardFinding{control: control, rule: name, resource: res, message: message}
				if !seen[f] {
					seen[f] = true
					out = append(out, f)
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].control+out[i].resource < out[j].control+out[j].resource
	})
	return out
}

func TestCfnGuardControlTowerRulesPassOrAreJustified(t *testing.T) {
	bin, rules := guardTool(t)
	supp := readSuppressions(t)
	dir := t.TempDir()
	names := make([]string, 0, len(paramSets))
	for n := range paramSets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, set := range names {
		tpl := instantiate(t, paramSets[set]).hookView()
		b, err := json.MarshalIndent(tpl, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(dir, set+".json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, f := range guardFindings(t, bin, rules, file) {
			waived := false
			for _, s := range supp {
				if s.matches(set, f) {
					s.used, waived = true, true
				}
			}
			if !waived {
				t.Errorf("%s: %s on %s (%s): %s", set, f.control, f.resource, f.rule, f.message)
			}
		}
	}
	for _, s := range supp {
		if !s.used {
			t.Errorf("suppression line %d (%s %s %s) matches no finding: remove it", s.line, s.control, s.resource, s.in)
		}
	}
}
