package metrics

import (
	"slices"
	"strings"
	"testing"

	"github.com/tossgame/migration-server/shared/metrics/emftest"
)

// checkEMF fails t unless line is one valid EMF document (emftest reads the specification's
// rules off the JSON), and returns its datapoints.
func checkEMF(t *testing.T, line []byte) []emftest.Datapoint {
	t.Helper()
	d, err := emftest.Parse(line)
	if err != nil {
		t.Error(err)
	}
	return d
}

// want is the datapoints CloudWatch should extract from metrics recorded in namespace.
func want(namespace string, ms []Metric) []emftest.Datapoint {
	var out []emftest.Datapoint
	for _, m := range ms {
		for _, set := range setsOf(m) {
			pairs := make([]string, len(set))
			for i, k := range set {
				j := slices.IndexFunc(m.Dims, func(d Dim) bool { return d.Name == k })
				pairs[i] = k + "=" + m.Dims[j].Value
			}
			out = append(out, emftest.Datapoint{Namespace: namespace, Name: m.Name, Unit: string(m.Unit), Dims: strings.Join(pairs, ","), Value: m.Value})
		}
	}
	return out
}

var sorted = emftest.Strings

func TestTheCheckerRefusesWhatTheSpecificationForbids(t *testing.T) {
	t.Parallel()
	const ok = `{"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[["Route"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]},"Route":"link","Requests":1}`
	if _, err := emftest.Parse([]byte(ok)); err != nil {
		t.Fatalf("a valid document is refused: %v", err)
	}
	for name, line := range map[string]string{
		"no _aws":                         `{"Route":"link","Requests":1}`,
		"text before the object":          `INFO ` + ok,
		"a timestamp in seconds":          strings.Replace(ok, "1795136523456", "1795136523", 1),
		"a timestamp that is a string":    strings.Replace(ok, "1795136523456", `"1795136523456"`, 1),
		"no namespace":                    strings.Replace(ok, `"Namespace":"N",`, "", 1),
		"an AWS namespace":                strings.Replace(ok, `"Namespace":"N"`, `"Namespace":"AWS/Lambda"`, 1),
		"no dimension sets":               strings.Replace(ok, `[["Route"]]`, `[]`, 1),
		"a dimension without its member":  strings.Replace(ok, `"Route":"link",`, "", 1),
		"a dimension that is a number":    strings.Replace(ok, `"Route":"link"`, `"Route":5`, 1),
		"an empty dimension value":        strings.Replace(ok, `"Route":"link"`, `"Route":""`, 1),
		"a metric without its member":     strings.Replace(ok, `,"Requests":1`, "", 1),
		"a metric that is a string":       strings.Replace(ok, `"Requests":1`, `"Requests":"1"`, 1),
		"an unknown unit":                 strings.Replace(ok, `"Unit":"Count"`, `"Unit":"Hours"`, 1),
		"an extra member in a definition": strings.Replace(ok, `"Unit":"Count"`, `"Unit":"Count","StorageResolutions":1`, 1),
		"101 values":                      strings.Replace(ok, `"Requests":1`, `"Requests":[`+strings.Repeat("1,", 100)+`1]`, 1),
		"a nested target":                 strings.Replace(ok, `"Route":"link"`, `"Route":{"x":"link"}`, 1),
	} {
		if _, err := emftest.Parse([]byte(line)); err == nil {
			t.Errorf("%s: accepted %s", name, line)
		}
	}
}
