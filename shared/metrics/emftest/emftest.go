// Package emftest checks log lines against the CloudWatch embedded metric format specification
// ("Specification: Embedded metric format", CloudWatch User Guide, summarised in
// docs/metrics.md), independently of the code that writes them: every rule is read off the
// parsed JSON. Parse then does what CloudWatch Logs does with a valid document, so that tests
// compare the datapoints CloudWatch would get. For tests only: no function links it.
package emftest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
)

// Units is the specification's list of units (its JSON schema's MetricUnit pattern).
var Units = strings.Split("Seconds|Microseconds|Milliseconds|Bytes|Kilobytes|Megabytes|Gigabytes|"+
	"Terabytes|Bits|Kilobits|Megabits|Gigabits|Terabits|Percent|Count|Bytes/Second|Kilobytes/Second|"+
	"Megabytes/Second|Gigabytes/Second|Terabytes/Second|Bits/Second|Kilobits/Second|Megabits/Second|"+
	"Gigabits/Second|Terabits/Second|Count/Second|None", "|")

// Datapoint is one value CloudWatch extracts: a metric identity and a value.
type Datapoint struct {
	Namespace, Name, Unit string
	Dims                  string // "K=V,K=V" in the dimension set's order; "" for the empty set
	Value                 float64
}

func (d Datapoint) String() string {
	return fmt.Sprintf("%s/%s[%s]=%g %s", d.Namespace, d.Name, d.Dims, d.Value, d.Unit)
}

// Strings are the datapoints as sorted strings, for comparisons.
func Strings(d []Datapoint) []string {
	s := make([]string, len(d))
	for i, p := range d {
		s[i] = p.String()
	}
	sort.Strings(s)
	return s
}

// IsEMF reports whether a log line claims to be an EMF document (has an "_aws" member).
func IsEMF(line []byte) bool {
	var root map[string]json.RawMessage
	if json.Unmarshal(line, &root) != nil {
		return false
	}
	_, ok := root["_aws"]
	return ok
}

// Parse checks that line is one valid EMF document and returns the datapoints CloudWatch would
// extract from it; the error names the first rule broken.
func Parse(line []byte) ([]Datapoint, error) {
	fail := func(format string, args ...any) ([]Datapoint, error) {
		return nil, fmt.Errorf("not valid EMF: "+format+"\nline: %s", append(args, line)...)
	}
	// Root node: a valid JSON object with no additional data before or after it, within the
	// size limit of a CloudWatch Logs event.
	if len(line) > 256<<10 {
		return fail("%d bytes, over 256 KB", len(line))
	}
	if bytes.ContainsAny(line, "\n\r") {
		return fail("the document spans several lines")
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.UseNumber()
	var root map[string]any
	if err := dec.Decode(&root); err != nil {
		return fail("root is not a JSON object: %v", err)
	}
	if dec.More() {
		return fail("data after the object")
	}
	// Metadata object: _aws with an integer Timestamp in ms and a CloudWatchMetrics array.
	aws, ok := root["_aws"].(map[string]any)
	if !ok {
		return fail("no _aws object")
	}
	ts, ok := aws["Timestamp"].(json.Number)
	if !ok {
		return fail("_aws.Timestamp is not a number")
	}
	if ms, err := ts.Int64(); err != nil || ms < 1e12 || ms > 1e13 {
		return fail("_aws.Timestamp %s is not an integer count of milliseconds since 1970", ts)
	}
	dirs, ok := aws["CloudWatchMetrics"].([]any)
	if !ok || len(dirs) == 0 {
		return fail("_aws.CloudWatchMetrics is not a non-empty array")
	}
	for k := range aws {
		if k != "Timestamp" && k != "CloudWatchMetrics" {
			return fail("_aws has an additional member %q", k)
		}
	}
	var out []Datapoint
	dimKeys, metricNames := map[string]bool{}, map[string]bool{}
	for _, d := range dirs {
		dir, ok := d.(map[string]any)
		if !ok {
			return fail("a MetricDirective is not an object")
		}
		for k := range dir {
			if k != "Namespace" && k != "Dimensions" && k != "Metrics" {
				return fail("a MetricDirective has an additional member %q", k)
			}
		}
		ns, ok := dir["Namespace"].(string)
		if !ok || ns == "" || len(ns) > 255 || strings.HasPrefix(ns, "AWS/") {
			return fail("Namespace %v is not a 1-255 character string outside AWS/", dir["Namespace"])
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok || len(sets) == 0 {
			return fail("Dimensions is not a non-empty array of DimensionSets")
		}
		var dimSets [][]string
		for _, s := range sets {
			set, ok := s.([]any)
			if !ok || len(set) > 30 {
				return fail("a DimensionSet is not an array of at most 30 keys: %v", s)
			}
			var keys []string
			for _, k := range set {
				key, ok := k.(string)
				if !ok || key == "" || len(key) > 255 {
					return fail("dimension key %v is not a 1-255 character string", k)
				}
				// Target member: on the root node, a string (CloudWatch: printable ASCII, 1 to
				// 1024 characters, not blank).
				v, ok := root[key].(string)
				if !ok {
					return fail("dimension %q has no string member on the root node", key)
				}
				if v == "" || len(v) > 1024 || strings.TrimSpace(v) == "" ||
					strings.IndexFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
					return fail("dimension %q has value %q, which CloudWatch refuses", key, v)
				}
				if slices.Contains(keys, key) {
					return fail("dimension %q twice in one set", key)
				}
				keys = append(keys, key)
				dimKeys[key] = true
			}
			dimSets = append(dimSets, keys)
		}
		defs, ok := dir["Metrics"].([]any)
		if !ok || len(defs) == 0 || len(defs) > 100 {
			return fail("Metrics is not an array of 1 to 100 MetricDefinitions")
		}
		for _, d := range defs {
			def, ok := d.(map[string]any)
			if !ok {
				return fail("a MetricDefinition is not an object")
			}
			for k := range def {
				if k != "Name" && k != "Unit" {
					return fail("a MetricDefinition has an additional member %q", k)
				}
			}
			name, ok := def["Name"].(string)
			if !ok || name == "" || len(name) > 255 {
				return fail("metric Name %v is not a 1-255 character string", def["Name"])
			}
			// Unit is optional in the specification; these functions always say it.
			unit, ok := def["Unit"].(string)
			if !ok || !slices.Contains(Units, unit) {
				return fail("metric %s has unit %v, not one of the specification's", name, def["Unit"])
			}
			metricNames[name] = true
			// Metric target: a number, or an array of at most 100 numbers.
			var values []float64
			switch v := root[name].(type) {
			case json.Number:
				f, err := v.Float64()
				if err != nil {
					return fail("metric %s value %s is not a number", name, v)
				}
				values = []float64{f}
			case []any:
				if len(v) == 0 || len(v) > 100 {
					return fail("metric %s has %d values, want 1 to 100", name, len(v))
				}
				for _, e := range v {
					n, ok := e.(json.Number)
					f, err := n.Float64()
					if !ok || err != nil {
						return fail("metric %s has a value %v that is not a number", name, e)
					}
					values = append(values, f)
				}
			default:
				return fail("metric %s has no numeric member on the root node (got %T)", name, root[name])
			}
			for _, f := range values {
				if math.IsInf(f, 0) || math.Abs(f) > 1.174271e108 {
					return fail("metric %s value %g is outside CloudWatch's range", name, f)
				}
			}
			for _, keys := range dimSets {
				pairs := make([]string, len(keys))
				for i, k := range keys {
					pairs[i] = k + "=" + root[k].(string)
				}
				for _, f := range values {
					out = append(out, Datapoint{ns, name, unit, strings.Join(pairs, ","), f})
				}
			}
		}
	}
	for k := range dimKeys {
		if metricNames[k] {
			return fail("%q is both a dimension and a metric", k)
		}
	}
	return out, nil
}

// ParseLog checks every line of a log that has an "_aws" member and returns all their
// datapoints; other lines are skipped.
func ParseLog(log []byte) ([]Datapoint, error) {
	var out []Datapoint
	for _, l := range bytes.Split(log, []byte("\n")) {
		l = bytes.TrimSpace(l)
		if len(l) == 0 || !IsEMF(l) {
			continue
		}
		d, err := Parse(l)
		if err != nil {
			return out, err
		}
		out = append(out, d...)
	}
	return out, nil
}
