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
// lines. doc is one such line being filled.
type doc struct {
	dims []Dim
	vals []series
	dirs []directive
}

// series is one metric's values in a doc (an array when there are several).
type series struct {
	m      Metric // the first value's metric: name, unit, dimensions and sets
	values []float64
}

// directive is one MetricDirective: the metrics published under the same dimension sets.
type directive struct {
	sets    [][]string
	metrics []int // indexes into doc.vals
}

// pack places metrics, in order, into as few documents as the format allows: a metric joins the
// first document whose dimension values agree with its own and where its name is free (or
// already holds the same metric, whose values it joins, up to MaxValuesPerMetric).
func pack(ms []Metric) []*doc {
	var docs []*doc
	for _, m := range ms {
		placed := false
		for _, d := range docs {
			if d.add(m) {
				placed = true
				break
			}
		}
		if !placed {
			d := &doc{}
			d.add(m) // always fits an empty document: m is valid
			docs = append(docs, d)
		}
	}
	return docs
}

func (d *doc) add(m Metric) bool {
	sets := setsOf(m)
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
		if s.m.Unit != m.Unit || !slices.Equal(s.m.Dims, m.Dims) || !equalSets(setsOf(s.m), sets) ||
			len(s.values) >= MaxValuesPerMetric {
			return false
		}
		s.values = append(s.values, m.Value)
		return true
	}
	dir := slices.IndexFunc(d.dirs, func(x directive) bool { return equalSets(x.sets, sets) })
	if dir >= 0 && len(d.dirs[dir].metrics) >= MaxMetricsPerDirective {
		return false
	}
	for _, dim := range m.Dims {
		if d.dim(dim.Name) < 0 {
			d.dims = append(d.dims, dim)
		}
	}
	d.vals = append(d.vals, series{m: m, values: []float64{m.Value}})
	if dir < 0 {
		d.dirs = append(d.dirs, directive{sets: sets})
		dir = len(d.dirs) - 1
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

func equalSets(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

// attrs are the members of d's log line: "_aws", then the dimensions, then the values.
func (d *doc) attrs(namespace string, at time.Time, out []slog.Attr) []slog.Attr {
	out = append(out, slog.Any("_aws", meta{d: d, namespace: namespace, ms: at.UnixMilli()}))
	for _, dim := range d.dims {
		out = append(out, slog.String(dim.Name, dim.Value))
	}
	for _, s := range d.vals {
		if len(s.values) == 1 {
			out = append(out, slog.Float64(s.m.Name, s.values[0]))
		} else {
			out = append(out, slog.Any(s.m.Name, s.values))
		}
	}
	return out
}

// meta is the "_aws" member; it writes its own JSON, which the logger embeds as it is.
type meta struct {
	d         *doc
	namespace string
	ms        int64
}

func (m meta) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 128)
	b = append(b, `{"Timestamp":`...)
	b = strconv.AppendInt(b, m.ms, 10)
	b = append(b, `,"CloudWatchMetrics":[`...)
	for i, dir := range m.d.dirs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Namespace":`...)
		b = appendString(b, m.namespace)
		b = append(b, `,"Dimensions":[`...)
		for j, set := range dir.sets {
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
			b = appendString(b, m.d.vals[v].m.Name)
			b = append(b, `,"Unit":`...)
			b = appendString(b, string(m.d.vals[v].m.Unit))
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
	ms := make([]Metric, 0, len(line)+len(rest))
	for _, m := range line {
		if valid(m) {
			ms = append(ms, m)
		} else {
			dropped++
		}
	}
	ms = append(ms, rest...)
	if ValidNamespace(namespace) != nil {
		dropped += len(ms)
		ms = nil
	}
	docs := pack(ms)
	if len(docs) > 0 {
		attrs = docs[0].attrs(namespace, at, attrs)
	}
	if dropped > 0 {
		attrs = append(attrs, slog.Int("metricsDropped", dropped))
	}
	log.LogAttrs(ctx, level, msg, attrs...)
	for _, d := range docs[min(1, len(docs)):] {
		log.LogAttrs(ctx, slog.LevelInfo, "metrics", d.attrs(namespace, at, nil)...)
	}
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
