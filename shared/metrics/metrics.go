// Package metrics records what an invocation measured and writes it as CloudWatch Embedded
// Metric Format (EMF): members of the function's JSON log lines that CloudWatch Logs turns into
// metrics, with no API call and no permission beyond writing logs. A request's metrics are kept
// in a Set carried by its context (With, Add) and written once, with the request's log line, by
// the wrapper that created the Set (Set.Log); code outside a request uses Emit. Names, units and
// dimensions are the ones docs/metrics.md lists.
package metrics

import (
	"context"
	"math"
	"slices"
	"sync"
)

// DefaultNamespace is the functions' CloudWatch namespace unless METRICS_NAMESPACE says otherwise.
const DefaultNamespace = "TossMigration"

// Unit is a CloudWatch metric unit.
type Unit string

// The units these functions use; every CloudWatch unit is accepted (see units).
const (
	Count        Unit = "Count"
	Milliseconds Unit = "Milliseconds"
	Seconds      Unit = "Seconds"
	None         Unit = "None"
)

// units are the values the EMF specification allows for a MetricDefinition's Unit.
var units = []Unit{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
	"Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent",
	"Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
	"Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second",
	"Terabits/Second", "Count/Second", "None"}

// Dim is one dimension of a metric: a name and its value.
type Dim struct{ Name, Value string }

// Metric is one value of a metric.
type Metric struct {
	Name  string
	Unit  Unit
	Value float64
	Dims  []Dim
	// Sets are the dimension sets (lists of names of Dims) the value is published under; nil
	// publishes it under one set made of all of Dims (none at all when Dims is empty).
	Sets [][]string
}

// Limits of the EMF specification and of CloudWatch's PutMetricData, which EMF feeds.
const (
	MaxMetricsPerDirective = 100  // MetricDefinitions in one MetricDirective
	MaxValuesPerMetric     = 100  // members of one metric's array of values
	MaxDimsPerSet          = 30   // dimension keys in one DimensionSet
	maxNameLen             = 255  // a namespace, metric name or dimension name
	maxDimValueLen         = 1024 // a dimension value
	maxValue               = 1.174271e108
	minMagnitude           = 8.515920e-109
)

// Set collects one invocation's metrics. It is safe for concurrent use; the zero value is ready.
type Set struct {
	mu      sync.Mutex
	metrics []Metric
	outcome string
	reqDims []Dim
	dropped int
	dimsBuf [1]Dim // reqDims' usual room: unlink's Referrer
}

type setKey struct{}

// With returns a context carrying a new Set, and the Set.
func With(ctx context.Context) (context.Context, *Set) {
	s := &Set{}
	return context.WithValue(ctx, setKey{}, s), s
}

// From returns the context's Set, or nil.
func From(ctx context.Context) *Set {
	s, _ := ctx.Value(setKey{}).(*Set)
	return s
}

// Add records value under name, with one dimension set made of dims. Without a Set in ctx it
// does nothing, so code below the request wrapper may measure whether or not anyone listens.
func Add(ctx context.Context, name string, unit Unit, value float64, dims ...Dim) {
	if s := From(ctx); s != nil {
		s.Put(Metric{Name: name, Unit: unit, Value: value, Dims: dims})
	}
}

// Put records m in ctx's Set, if any.
func Put(ctx context.Context, m Metric) {
	if s := From(ctx); s != nil {
		s.Put(m)
	}
}

// SetOutcome reports how a request that succeeded went ("already_mapped"), for the request's
// Outcome dimension; the request wrapper reads it. The domain reports through it what only the
// domain knows, without a return value the HTTP layer would have to thread through.
func SetOutcome(ctx context.Context, outcome string) {
	if s := From(ctx); s != nil {
		s.mu.Lock()
		s.outcome = outcome
		s.mu.Unlock()
	}
}

// SetRequestDim adds a dimension to the count of the request itself (unlink's Referrer), which
// the request wrapper publishes under a second dimension set beside [Route, Outcome]. A later
// call with the same name replaces the value.
func SetRequestDim(ctx context.Context, d Dim) {
	if s := From(ctx); s != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := slices.IndexFunc(s.reqDims, func(x Dim) bool { return x.Name == d.Name }); i >= 0 {
			s.reqDims[i] = d
			return
		}
		if s.reqDims == nil {
			s.reqDims = s.dimsBuf[:0]
		}
		s.reqDims = append(s.reqDims, d)
	}
}

// RequestDims is what SetRequestDim added, to read only.
func (s *Set) RequestDims() []Dim {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.reqDims
}

// Outcome is what SetOutcome reported, or "".
func (s *Set) Outcome() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.outcome
}

// Put records m. A metric the format cannot carry (a bad name, unit, dimension or value) is
// dropped and counted: the log line then says metricsDropped, instead of CloudWatch rejecting
// the whole document.
func (s *Set) Put(m Metric) {
	ok := valid(m)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		s.dropped++
		return
	}
	s.metrics = append(s.metrics, m)
}

// snapshot returns the metrics recorded so far (to read only) and how many were dropped.
func (s *Set) snapshot() ([]Metric, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.metrics, s.dropped
}

// valid checks m against the specification and CloudWatch's limits.
func valid(m Metric) bool {
	if !validName(m.Name) || !slices.Contains(units, m.Unit) {
		return false
	}
	if math.IsNaN(m.Value) || math.Abs(m.Value) > maxValue || (m.Value != 0 && math.Abs(m.Value) < minMagnitude) {
		return false
	}
	for i, d := range m.Dims {
		if !validName(d.Name) || !validDimValue(d.Value) || d.Name == m.Name {
			return false
		}
		for _, e := range m.Dims[:i] {
			if e.Name == d.Name {
				return false
			}
		}
	}
	if m.Sets == nil && len(m.Dims) > MaxDimsPerSet {
		return false
	}
	for _, set := range m.Sets {
		if len(set) > MaxDimsPerSet {
			return false
		}
		for i, k := range set {
			if slices.Index(set, k) != i || !slices.ContainsFunc(m.Dims, func(d Dim) bool { return d.Name == k }) {
				return false
			}
		}
	}
	return m.Sets == nil || len(m.Sets) > 0
}

// validName admits names that start with an upper-case ASCII letter, then letters and digits.
// Stricter than CloudWatch, on purpose: such a name can never collide with the log line's own
// members (timestamp, level, message, requestId, route, status, ...), which are lower case.
func validName(s string) bool {
	if s == "" || len(s) > maxNameLen || s[0] < 'A' || s[0] > 'Z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// validDimValue is CloudWatch's rule for a dimension value: printable ASCII, 1 to 1024
// characters, at least one of them not a space.
func validDimValue(s string) bool {
	if s == "" || len(s) > maxDimValueLen {
		return false
	}
	blank := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			return false
		}
		if c != ' ' {
			blank = false
		}
	}
	return !blank
}
