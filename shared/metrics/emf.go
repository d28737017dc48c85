package metrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"
)

// An EMF document is one JSON log line: "_aws" names the metrics and their dimension sets, and
// every dimension and metric value is a member of the line itself. So one line can hold one
// value per dimension name: TossLatency for Call=generate-token and for Call=login-me need two
// lines. doc is one such line being filled. Its slices start in the arrays beside them, so that
// a request's usual document costs one allocation.
type doc struct {
	namespace string
	ms        int64 // the metrics' timestamp
	dims      []Dim
	vals      []series
	dirs      []directive

	dimsBuf [4]Dim
	valsBuf [3]series
	dirsBuf [2]directive
}

// series is one metric's values in a doc (an array when there are several).
type series struct {
	m    Metric    // the first value's metric: name, unit, dimensions and sets
	more []float64 // the values after m.Value
}

// directive is one MetricDirective: the metrics published under the same dimension sets.
type directive struct {
	first   Metric // its first metric, whose sets it publishes
	metrics []int  // indexes into doc.vals
	buf     [3]int
}

func newDoc(namespace string, ms int64) *doc {
	d := &doc{namespace: namespace, ms: ms}
	d.dims, d.vals, d.dirs = d.dimsBuf[:0], d.valsBuf[:0], d.dirsBuf[:0]
	return d
}

// pack places metrics, in order, into as few documents as the format allows: a metric joins the
// first document whose dimension values agree with its own and where its name is free (or
// already holds the same metric, whose values it joins, up to MaxValuesPerMetric).
func pack(docs []*doc, ms []Metric, namespace string, at time.Time) []*doc {
	for _, m := range ms {
		placed := false
		for _, d := range docs {
			if d.add(m) {
				placed = true
				break
			}
		}
		if !placed {
			d := newDoc(namespace, at.UnixMilli())
			d.add(m) // always fits an empty document: m is valid
			docs = append(docs, d)
		}
	}
	return docs
}

func (d *doc) add(m Metric) bool {
	for _, dim := range m.Dims {
		if d.series(dim.Name) >= 0 {
			return false
		}
		if i := d.dim(dim.Name); i >= 0 && d.dims[i].Value != dim.Value {
			return false
		}
	}
	if d.dim(m.Name) >= 0 {
		return false
	}
	if i := d.series(m.Name); i >= 0 {
		s := &d.vals[i]
		if s.m.Unit != m.Unit || !slices.Equal(s.m.Dims, m.Dims) || !sameSets(s.m, m) ||
			len(s.more)+1 >= MaxValuesPerMetric {
			return false
		}
		s.more = append(s.more, m.Value)
		return true
	}
	dir := slices.IndexFunc(d.dirs, func(x directive) bool { return sameSets(x.first, m) })
	if dir >= 0 && len(d.dirs[dir].metrics) >= MaxMetricsPerDirective {
		return false
	}
	for _, dim := range m.Dims {
		if d.dim(dim.Name) < 0 {
			d.dims = append(d.dims, dim)
		}
	}
	d.vals = append(d.vals, series{m: m})
	if dir < 0 {
		d.dirs = append(d.dirs, directive{first: m})
		dir = len(d.dirs) - 1
		d.dirs[dir].metrics = d.dirs[dir].buf[:0]
	}
	d.dirs[dir].metrics = append(d.dirs[dir].metrics, len(d.vals)-1)
	return true
}

func (d *doc) dim(name string) int {
	return slices.IndexFunc(d.dims, func(x Dim) bool { return x.Name == name })
}

func (d *doc) series(name string) int {
	return slices.IndexFunc(d.vals, func(x series) bool { return x.m.Name == name })
}

// setsOf is m's dimension sets, the default (all of Dims) spelled out.
func setsOf(m Metric) [][]string {
	if m.Sets != nil {
		return m.Sets
	}
	set := make([]string, len(m.Dims))
	for i, d := range m.Dims {
		set[i] = d.Name
	}
	return [][]string{set}
}

// sameSets reports whether a and b are published under the same dimension sets, without
// spelling out the default.
func sameSets(a, b Metric) bool {
	switch {
	case a.Sets == nil && b.Sets == nil:
		return slices.EqualFunc(a.Dims, b.Dims, func(x, y Dim) bool { return x.Name == y.Name })
	case a.Sets == nil || b.Sets == nil:
		return slices.EqualFunc(setsOf(a), setsOf(b), slices.Equal)
	}
	return slices.EqualFunc(a.Sets, b.Sets, slices.Equal)
}

// attrs are the members of d's log line: "_aws", then the dimensions, then the values.
func (d *doc) attrs(out []slog.Attr) []slog.Attr {
	out = slices.Grow(out, 1+len(d.dims)+len(d.vals))
	out = append(out, slog.Any("_aws", d))
	for _, dim := range d.dims {
		out = append(out, slog.String(dim.Name, dim.Value))
	}
	for _, s := range d.vals {
		if len(s.more) == 0 {
			out = append(out, slog.Float64(s.m.Name, s.m.Value))
		} else {
			out = append(out, slog.Any(s.m.Name, append([]float64{s.m.Value}, s.more...)))
		}
	}
	return out
}

// MarshalText is MarshalJSON, for a text logger (the local run): the line then shows the same
// JSON, quoted, rather than Go's dump of the struct. CloudWatch extracts metrics from JSON lines
// only.
func (d *doc) MarshalText() ([]byte, error) { return d.MarshalJSON() }

// MarshalJSON writes the "_aws" member, which the logger embeds as it is.
func (d *doc) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 256)
	b = append(b, `{"Timestamp":`...)
	b = strconv.AppendInt(b, d.ms, 10)
	b = append(b, `,"CloudWatchMetrics":[`...)
	for i, dir := range d.dirs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Namespace":`...)
		b = appendString(b, d.namespace)
		b = append(b, `,"Dimensions":[`...)
		if dir.first.Sets == nil {
			b = append(b, '[')
			for k, dim := range dir.first.Dims {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendString(b, dim.Name)
			}
			b = append(b, ']')
		}
		for j, set := range dir.first.Sets {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, '[')
			for k, key := range set {
				if k > 0 {
					b = append(b, ',')
				}
				b = appendString(b, key)
			}
			b = append(b, ']')
		}
		b = append(b, `],"Metrics":[`...)
		for j, v := range dir.metrics {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"Name":`...)
			b = appendString(b, d.vals[v].m.Name)
			b = append(b, `,"Unit":`...)
			b = appendString(b, string(d.vals[v].m.Unit))
			b = append(b, '}')
		}
		b = append(b, "]}"...)
	}
	return append(b, "]}"...), nil
}

// appendString writes s as a JSON string. Names are checked to be plain ASCII letters and
// digits; the namespace is checked printable ASCII, so only '"' and '\' need escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			b = append(b, '\\', c)
		} else if c < 0x20 {
			b = fmt.Appendf(b, `\u%04x`, c)
		} else {
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// ValidNamespace checks a CloudWatch namespace: printable ASCII, 1 to 255 characters, not all
// blank, and not under "AWS/" (reserved for AWS's own metrics).
func ValidNamespace(ns string) error {
	switch {
	case ns == "" || len(ns) > maxNameLen || strings.TrimSpace(ns) == "":
		return errors.New("must be 1 to 255 characters")
	case strings.HasPrefix(ns, "AWS/"):
		return errors.New(`must not start with "AWS/" (reserved for AWS's own metrics)`)
	}
	for i := 0; i < len(ns); i++ {
		if ns[i] < 0x20 || ns[i] > 0x7e {
			return errors.New("must be printable ASCII")
		}
	}
	return nil
}

// Log writes one log line of msg and attrs that carries, as EMF in namespace, the metrics of
// line (Request's, which it therefore always holds) and of the Set; metrics that cannot share
// that line's document follow, a group to a line ("metrics", at INFO). With a namespace that is
// not valid, the line goes out without metrics and says so in metricsDropped.
func (s *Set) Log(ctx context.Context, log *slog.Logger, level slog.Level, msg, namespace string, line []Metric, attrs ...slog.Attr) {
	s.logAt(ctx, log, level, msg, namespace, time.Now(), line, attrs)
}

func (s *Set) logAt(ctx context.Context, log *slog.Logger, level slog.Level, msg, namespace string, at time.Time, line []Metric, attrs []slog.Attr) {
	rest, dropped := s.snapshot()
	ms := line
	if len(rest) > 0 || !all(line, valid) {
		ms = make([]Metric, 0, len(line)+len(rest))
		for _, m := range line {
			if valid(m) {
				ms = append(ms, m)
			} else {
				dropped++
			}
		}
		ms = append(ms, rest...)
	}
	if ValidNamespace(namespace) != nil {
		dropped += len(ms)
		ms = nil
	}
	var buf [2]*doc
	docs := pack(buf[:0], ms, namespace, at)
	if len(docs) > 0 {
		attrs = docs[0].attrs(attrs)
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("metricsDropped", dropped))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
	for _, d := range docs[min(1, len(docs)):] {
		log.LogAttrs(ctx, slog.LevelInfo, "metrics", d.attrs(nil)...)
	}
}

func all[T any](s []T, f func(T) bool) bool {
	for _, v := range s {
		if !f(v) {
			return false
		}
	}
	return true
}

// Emit writes metrics as EMF log lines ("metrics", at INFO), for code that runs outside a
// request, such as the daily certificate check. Metrics the format cannot carry are left out
// and counted in metricsDropped.
func Emit(ctx context.Context, log *slog.Logger, namespace string, ms ...Metric) {
	emitAt(ctx, log, namespace, time.Now(), ms)
}

func emitAt(ctx context.Context, log *slog.Logger, namespace string, at time.Time, ms []Metric) {
	var s Set
	for _, m := range ms {
		s.Put(m)
	}
	if kept, dropped := s.snapshot(); len(kept) == 0 {
		if dropped > 0 {
			log.LogAttrs(ctx, slog.LevelWarn, "metrics", slog.Int("metricsDropped", dropped))
		}
		return
	}
	s.logAt(ctx, log, slog.LevelInfo, "metrics", namespace, at, nil, nil)
}
