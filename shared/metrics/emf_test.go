package metrics

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tossgame/migration-server/shared/metrics/emftest"
)

// at is the fixed time of golden lines: 2026-11-20T01:02:03.456Z, 1795136523456 ms since 1970
// (date -u -d 2026-11-20T01:02:03.456Z +%s%3N).
var at = time.Date(2026, 11, 20, 1, 2, 3, 456e6, time.UTC)

// jsonLog is a logger shaped like the functions' (lambdacontext's JSON keys) writing to buf;
// fixed replaces the time with at's, for golden lines.
func jsonLog(buf *bytes.Buffer, fixed bool) *slog.Logger {
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{ReplaceAttr: func(g []string, a slog.Attr) slog.Attr {
		if fixed && len(g) == 0 && a.Key == slog.TimeKey {
			a.Value = slog.TimeValue(at)
		}
		return lambdacontext.ReplaceAttr(g, a)
	}}))
}

func lines(buf *bytes.Buffer) [][]byte {
	return bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
}

func m(name string, unit Unit, v float64, dims ...string) Metric {
	var ds []Dim
	for i := 0; i+1 < len(dims); i += 2 {
		ds = append(ds, Dim{dims[i], dims[i+1]})
	}
	return Metric{Name: name, Unit: unit, Value: v, Dims: ds}
}

func TestEveryLineIsValidEMFAndCarriesEveryDatapoint(t *testing.T) {
	t.Parallel()
	many := func(n int, f func(i int) Metric) []Metric {
		out := make([]Metric, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	thirty := make([]string, 0, 60)
	for i := range 30 {
		thirty = append(thirty, fmt.Sprintf("D%d", i), "v")
	}
	cases := []struct {
		name  string
		line  []Metric // the request's own
		rest  []Metric // recorded in the Set
		lines int      // how many log lines it takes
	}{
		{"a status request alone", []Metric{Request("status", "mapped")}, nil, 1},
		{"an unlink by referrer, under two dimension sets", []Metric{Request("unlink", "removed", Dim{"Referrer", "UNLINK"})}, nil, 1},
		{"a panic beside its request", []Metric{Request("link", "internal_error"), Panic("link")}, nil, 1},
		{"two Toss calls need a second line for the second Call value",
			[]Metric{Request("link", "linked")},
			[]Metric{m("TossLatency", Milliseconds, 81.5, "Call", "generate-token"), m("TossErrors", Count, 0, "Call", "generate-token"),
				m("TossLatency", Milliseconds, 42, "Call", "login-me"), m("TossErrors", Count, 0, "Call", "login-me"),
				m("SecretRefreshes", Count, 1, "Function", "link")}, 2},
		{"the same Outcome name with another value goes to its own line",
			[]Metric{Request("link", "linked")}, []Metric{m("TossLoginRemovals", Count, 1, "Outcome", "removed")}, 2},
		{"repeated values of one metric become an array, 100 at most",
			nil, many(250, func(i int) Metric { return m("TossLatency", Milliseconds, float64(i), "Call", "login-me") }), 3},
		{"a metric with and without a dimension cannot share a line",
			nil, []Metric{m("CertificateDaysLeft", None, 10), m("CertificateDaysLeft", None, 10, "Certificate", "ab")}, 2},
		{"150 metrics take two directives of at most 100",
			nil, many(150, func(i int) Metric { return m(fmt.Sprintf("M%d", i), Count, 1, "Route", "x") }), 2},
		{"30 dimensions in one set are allowed", nil, []Metric{m("Wide", Count, 1, thirty...)}, 1},
		{"negative, zero and fractional values are numbers too", nil,
			[]Metric{m("A", None, -3.25), m("B", None, 0), m("C", None, 1e-3), m("D", None, 1e15)}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			_, s := With(context.Background())
			for _, x := range c.rest {
				s.Put(x)
			}
			s.logAt(context.Background(), jsonLog(&buf, false), slog.LevelInfo, "request", "TossMigration", at, c.line,
				[]slog.Attr{slog.String("route", "link")})
			ls := lines(&buf)
			if len(ls) != c.lines {
				t.Errorf("%d lines, want %d:\n%s", len(ls), c.lines, buf.String())
			}
			var got []emftest.Datapoint
			for _, l := range ls {
				got = append(got, checkEMF(t, l)...)
			}
			if !bytes.Contains(ls[0], []byte(`"message":"request","route":"link"`)) {
				t.Errorf("the first line is not the request's: %s", ls[0])
			}
			if len(c.line) > 0 && !bytes.Contains(ls[0], []byte(`"`+c.line[0].Name+`":1`)) {
				t.Errorf("the request's line does not carry %s: %s", c.line[0].Name, ls[0])
			}
			wantAll := want("TossMigration", append(slices.Clone(c.line), c.rest...))
			if g, w := sorted(got), sorted(wantAll); !slices.Equal(g, w) {
				t.Errorf("CloudWatch would extract\n%v\nwant\n%v", g, w)
			}
			if bytes.Contains(buf.Bytes(), []byte("metricsDropped")) {
				t.Errorf("valid metrics were dropped: %s", buf.String())
			}
		})
	}
}

func TestWhatTheFormatCannotCarryIsDroppedAndCounted(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 1025)
	thirtyOne := make([]string, 0, 62)
	for i := range 31 {
		thirtyOne = append(thirtyOne, fmt.Sprintf("D%d", i), "v")
	}
	for _, c := range []struct {
		name string
		m    Metric
	}{
		{"NaN", m("A", Count, math.NaN())},
		{"infinity", m("A", Count, math.Inf(1))},
		{"a value beyond CloudWatch's range", m("A", Count, 1e109)},
		{"a value too close to zero", m("A", Count, 1e-110)},
		{"a lower-case name, which could collide with the log's own keys", m("status", Count, 1)},
		{"an empty name", m("", Count, 1)},
		{"a name with punctuation", m("A.b", Count, 1)},
		{"a unit CloudWatch does not know", m("A", "Hours", 1)},
		{"an empty unit", m("A", "", 1)},
		{"an empty dimension value", m("A", Count, 1, "Call", "")},
		{"a blank dimension value", m("A", Count, 1, "Call", "  ")},
		{"a non-ASCII dimension value", m("A", Count, 1, "Call", "로그인")},
		{"a control character in a dimension value", m("A", Count, 1, "Call", "a\nb")},
		{"a dimension value over 1024 characters", m("A", Count, 1, "Call", long)},
		{"a lower-case dimension name", m("A", Count, 1, "call", "x")},
		{"a dimension named like the metric", m("A", Count, 1, "A", "x")},
		{"the same dimension twice", m("A", Count, 1, "Call", "x", "Call", "y")},
		{"31 dimensions in one set", m("A", Count, 1, thirtyOne...)},
		{"a set naming a dimension the metric lacks", Metric{Name: "A", Unit: Count, Value: 1, Dims: []Dim{{"Call", "x"}}, Sets: [][]string{{"Route"}}}},
		{"a set naming a dimension twice", Metric{Name: "A", Unit: Count, Value: 1, Dims: []Dim{{"Call", "x"}}, Sets: [][]string{{"Call", "Call"}}}},
		{"an empty list of sets", Metric{Name: "A", Unit: Count, Value: 1, Sets: [][]string{}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			ctx, s := With(context.Background())
			Put(ctx, c.m)
			Add(ctx, "Good", Count, 1)
			s.logAt(ctx, jsonLog(&buf, false), slog.LevelInfo, "request", "TossMigration", at, nil, nil)
			ls := lines(&buf)
			if len(ls) != 1 {
				t.Fatalf("%d lines: %s", len(ls), buf.String())
			}
			got := checkEMF(t, ls[0])
			if g := sorted(got); !slices.Equal(g, []string{"TossMigration/Good[]=1 Count"}) {
				t.Errorf("extracted %v, want only the good metric", g)
			}
			if !bytes.Contains(ls[0], []byte(`"metricsDropped":1`)) {
				t.Errorf("the line does not count the dropped metric: %s", ls[0])
			}
		})
	}
}

func TestAnInvalidNamespaceWritesTheLineWithoutMetrics(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"", "AWS/Lambda", "Toss\nMigration", "로그", strings.Repeat("n", 256), "   "} {
		var buf bytes.Buffer
		_, s := With(context.Background())
		s.logAt(context.Background(), jsonLog(&buf, false), slog.LevelInfo, "request", ns, at, []Metric{Request("status", "mapped")}, nil)
		if ValidNamespace(ns) == nil {
			t.Errorf("namespace %q is accepted", ns)
		}
		if l := buf.String(); strings.Contains(l, "_aws") || !strings.Contains(l, `"metricsDropped":1`) || !strings.Contains(l, `"message":"request"`) {
			t.Errorf("namespace %q: %s", ns, l)
		}
	}
	for _, ns := range []string{"TossMigration", "Studio/Toss-Migration_2", "a.b#c:d e"} {
		if err := ValidNamespace(ns); err != nil {
			t.Errorf("namespace %q refused: %v", ns, err)
		}
	}
}

// Golden lines: the exact bytes a function writes (requestId aside, which lambdacontext's handler
// appends). A change here changes what CloudWatch extracts: check it against docs/metrics.md.
func TestGoldenLines(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		run  func(log *slog.Logger)
		want string
	}{
		{"a status request", func(log *slog.Logger) {
			_, s := With(context.Background())
			s.logAt(context.Background(), log, slog.LevelInfo, "request", "TossMigration", at, []Metric{Request("status", "mapped")},
				[]slog.Attr{slog.String("route", "status"), slog.String("method", "POST"), slog.Int("status", 200), slog.Float64("durationMs", 3.25)})
		}, `{"timestamp":"2026-11-20T01:02:03.456Z","level":"INFO","message":"request","route":"status","method":"POST","status":200,"durationMs":3.25,` +
			`"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"TossMigration","Dimensions":[["Route","Outcome"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]},` +
			`"Route":"status","Outcome":"mapped","Requests":1}` + "\n"},
		{"an unlink by referrer", func(log *slog.Logger) {
			_, s := With(context.Background())
			s.logAt(context.Background(), log, slog.LevelInfo, "request", "TossMigration", at, []Metric{Request("unlink", "unknown_user", Dim{"Referrer", "WITHDRAWAL_TOSS"})}, nil)
		}, `{"timestamp":"2026-11-20T01:02:03.456Z","level":"INFO","message":"request",` +
			`"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"TossMigration","Dimensions":[["Route","Outcome"],["Route","Outcome","Referrer"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]}]},` +
			`"Route":"unlink","Outcome":"unknown_user","Referrer":"WITHDRAWAL_TOSS","Requests":1}` + "\n"},
		{"a link with two Toss calls", func(log *slog.Logger) {
			ctx, s := With(context.Background())
			TossCall(ctx, CallGenerateToken, 81250*time.Microsecond, nil)
			TossCall(ctx, CallLoginMe, 42*time.Millisecond, nil)
			s.logAt(ctx, log, slog.LevelInfo, "request", "TossMigration", at, []Metric{Request("link", "linked")}, nil)
		}, `{"timestamp":"2026-11-20T01:02:03.456Z","level":"INFO","message":"request",` +
			`"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"TossMigration","Dimensions":[["Route","Outcome"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]},` +
			`{"Namespace":"TossMigration","Dimensions":[["Call"]],"Metrics":[{"Name":"TossLatency","Unit":"Milliseconds"},{"Name":"TossErrors","Unit":"Count"}]}]},` +
			`"Route":"link","Outcome":"linked","Call":"generate-token","Requests":1,"TossLatency":81.25,"TossErrors":0}` + "\n" +
			`{"timestamp":"2026-11-20T01:02:03.456Z","level":"INFO","message":"metrics",` +
			`"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"TossMigration","Dimensions":[["Call"]],"Metrics":[{"Name":"TossLatency","Unit":"Milliseconds"},{"Name":"TossErrors","Unit":"Count"}]}]},` +
			`"Call":"login-me","TossLatency":42,"TossErrors":0}` + "\n"},
		{"a recovered panic", func(log *slog.Logger) {
			_, s := With(context.Background())
			s.logAt(context.Background(), log, slog.LevelError, "request failed", "TossMigration", at, []Metric{Request("link", "internal_error"), Panic("link")}, nil)
		}, `{"timestamp":"2026-11-20T01:02:03.456Z","level":"ERROR","message":"request failed",` +
			`"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"TossMigration","Dimensions":[["Route","Outcome"]],"Metrics":[{"Name":"Requests","Unit":"Count"}]},` +
			`{"Namespace":"TossMigration","Dimensions":[["Route"]],"Metrics":[{"Name":"Panics","Unit":"Count"}]}]},` +
			`"Route":"link","Outcome":"internal_error","Requests":1,"Panics":1}` + "\n"},
		{"the daily certificate check with two pairs", func(log *slog.Logger) {
			a, b := testCert(t, at.Add(400*24*time.Hour), 1), testCert(t, at.Add(12*24*time.Hour+6*time.Hour), 2)
			emitAt(context.Background(), log, "TossMigration", at, CertificateMetrics(at, a, b))
		}, `{"timestamp":"2026-11-20T01:02:03.456Z","level":"INFO","message":"metrics",` +
			`"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"TossMigration","Dimensions":[["Certificate"]],"Metrics":[{"Name":"CertificateDaysLeft","Unit":"None"}]}]},` +
			`"Certificate":"` + Fingerprint(testCert(t, at.Add(400*24*time.Hour), 1)) + `","CertificateDaysLeft":400}` + "\n" +
			`{"timestamp":"2026-11-20T01:02:03.456Z","level":"INFO","message":"metrics",` +
			`"_aws":{"Timestamp":1795136523456,"CloudWatchMetrics":[{"Namespace":"TossMigration","Dimensions":[[],["Certificate"]],"Metrics":[{"Name":"CertificateDaysLeft","Unit":"None"}]}]},` +
			`"Certificate":"` + Fingerprint(testCert(t, at.Add(12*24*time.Hour+6*time.Hour), 2)) + `","CertificateDaysLeft":12.25}` + "\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			c.run(jsonLog(&buf, true))
			if buf.String() != c.want {
				t.Errorf("got\n%s\nwant\n%s", buf.String(), c.want)
			}
			for _, l := range lines(&buf) {
				checkEMF(t, l)
			}
		})
	}
}

func TestWithoutASetRecordingDoesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// None of these may panic or keep anything: there is no Set to keep it in.
	Add(ctx, "A", Count, 1)
	Put(ctx, m("A", Count, 1))
	SetOutcome(ctx, "linked")
	TossCall(ctx, CallLoginMe, time.Millisecond, nil)
	SecretFetch(ctx, "link", nil)
	CertificateDaysLeft(ctx, at, testCert(t, at, 1))
	if From(ctx) != nil {
		t.Error("a plain context has a Set")
	}
}

func TestASetTakesMetricsFromConcurrentGoroutines(t *testing.T) {
	t.Parallel()
	ctx, s := With(context.Background())
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 50 {
				Add(ctx, "Hits", Count, 1, Dim{"Worker", fmt.Sprint(i)})
			}
		})
	}
	wg.Wait()
	var buf bytes.Buffer
	s.logAt(ctx, jsonLog(&buf, false), slog.LevelInfo, "request", "TossMigration", at, nil, nil)
	var got []emftest.Datapoint
	for _, l := range lines(&buf) {
		got = append(got, checkEMF(t, l)...)
	}
	if len(got) != 400 {
		t.Errorf("%d datapoints, want 400", len(got))
	}
}

func TestTheOutcomeIsWhatWasLastReported(t *testing.T) {
	t.Parallel()
	ctx, s := With(context.Background())
	if s.Outcome() != "" {
		t.Errorf("a new Set has outcome %q", s.Outcome())
	}
	SetOutcome(ctx, "already_mapped")
	if s.Outcome() != "already_mapped" {
		t.Errorf("outcome %q", s.Outcome())
	}
}

func TestATextLoggerShowsTheSameJSON(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	_, s := With(context.Background())
	s.logAt(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)), slog.LevelInfo, "request", "TossMigration", at,
		[]Metric{Request("status", "mapped")}, nil)
	want := `_aws="{\"Timestamp\":1795136523456,\"CloudWatchMetrics\":[{\"Namespace\":\"TossMigration\",\"Dimensions\":[[\"Route\",\"Outcome\"]],\"Metrics\":[{\"Name\":\"Requests\",\"Unit\":\"Count\"}]}]}" Route=status Outcome=mapped Requests=1`
	if !strings.Contains(buf.String(), want) {
		t.Errorf("text line %s, want it to contain %s", buf.String(), want)
	}
}
