package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/metrics/emftest"
	"github.com/tossgame/migration-server/shared/routes"
)

// The Outcome values docs/metrics.md lists for each route (and for any route), which the
// template's dashboard and alarms read.
var documentedOutcomes = map[string][]string{
	"status": {"mapped", "not_mapped", "invalid_request", "unavailable"},
	"link": {"linked", "already_mapped", "hash_conflict", "user_conflict", "invalid_code", "toss_unavailable",
		"sandbox_refused", "config_fault", "unlinked_meanwhile", "invalid_request", "unavailable"},
	"unlink": {"removed", "unknown_user", "unauthorized", "not_configured", "invalid_request", "unavailable"},
	"":       {"internal_error", "method_not_allowed", "too_large"},
}

var documentedReferrers = []string{"UNLINK", "WITHDRAWAL_TERMS", "WITHDRAWAL_TOSS", "none", "other"}

// requestIDHandler adds the request id from the context as lambdacontext's handler does in the
// functions, so that a line without it shows a log call that lost the invocation's context.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		r.AddAttrs(slog.String("requestId", lc.AwsRequestID))
	}
	return h.Handler.Handle(ctx, r)
}

// capture is a log shaped like the functions' (lambdacontext's JSON keys and request id).
type capture struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *capture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *capture) logger() *slog.Logger {
	return slog.New(requestIDHandler{slog.NewJSONHandler(c, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr})})
}

func (c *capture) lines(t *testing.T) []map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, l := range bytes.Split(bytes.TrimSpace(c.buf.Bytes()), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(l, &m); err != nil {
			t.Fatalf("a log line is not JSON: %s", l)
		}
		out = append(out, m)
	}
	return out
}

func (c *capture) datapoints(t *testing.T) []string {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	d, err := emftest.ParseLog(c.buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	return emftest.Strings(d)
}

func lambdaCtx(id string) context.Context {
	return lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: id})
}

// alreadyMapped is a domain whose hash was mapped before: it reports so, as migration does.
type alreadyMapped struct{}

func (alreadyMapped) Link(ctx context.Context, _, _, _ string) error {
	metrics.SetOutcome(ctx, "already_mapped")
	return nil
}

func TestEveryRequestCountsItsOutcomeOnItsOwnLine(t *testing.T) {
	t.Parallel()
	auth := func(v string, err error) BasicAuthSource {
		return func(context.Context, bool) ([]string, error) {
			if v == "" {
				return nil, err
			}
			return []string{v}, err
		}
	}
	ok := auth("id:pw", nil)
	wrap := func(e error) error { return fmt.Errorf("x: %w", e) }
	status := func(d Statuser) func(Options) Handler { return func(o Options) Handler { return Status(d, o) } }
	link := func(d Linker) func(Options) Handler { return func(o Options) Handler { return Link(d, o) } }
	unlink := func(d Unlinker, a BasicAuthSource) func(Options) Handler {
		return func(o Options) Handler { return Unlink(d, a, o) }
	}
	linkReq := request("POST", `{"hash":"h","authorizationCode":"c"}`)
	cases := []struct {
		name     string
		h        func(Options) Handler
		req      events.APIGatewayV2HTTPRequest
		route    string
		status   int
		outcome  string
		referrer string // the unlink count's Referrer; "" for the other routes
	}{
		{"a mapped hash", status(&fakeDomain{mapped: true}), request("POST", `{"hash":"h"}`), "status", 200, "mapped", ""},
		{"an unmapped hash", status(&fakeDomain{}), request("POST", `{"hash":"h"}`), "status", 200, "not_mapped", ""},
		{"a status without a hash", status(&fakeDomain{}), request("POST", `{}`), "status", 400, "invalid_request", ""},
		{"a status while the store is down", status(&fakeDomain{err: wrap(apperr.ErrUnavailable)}), request("POST", `{"hash":"h"}`), "status", 503, "unavailable", ""},
		{"a status past its deadline", status(&fakeDomain{err: wrap(context.DeadlineExceeded)}), request("POST", `{"hash":"h"}`), "status", 503, "unavailable", ""},
		{"a GET on status", status(&fakeDomain{}), request("GET", ``), "status", 405, "method_not_allowed", ""},
		{"a huge status body", status(&fakeDomain{}), request("POST", `{"hash":"`+strings.Repeat("a", DefaultMaxBody)+`"}`), "status", 413, "too_large", ""},
		{"an unexpected status error", status(&fakeDomain{err: errors.New("boom")}), request("POST", `{"hash":"h"}`), "status", 500, "internal_error", ""},
		{"a new link", link(&fakeDomain{}), linkReq, "link", 200, "linked", ""},
		{"a link of a mapped hash", link(alreadyMapped{}), linkReq, "link", 200, "already_mapped", ""},
		{"a hash linked to another user", link(&fakeDomain{err: wrap(apperr.ErrHashLinked)}), linkReq, "link", 409, "hash_conflict", ""},
		{"a user linked to another hash", link(&fakeDomain{err: wrap(apperr.ErrUserLinked)}), linkReq, "link", 409, "user_conflict", ""},
		{"a spent code", link(&fakeDomain{err: wrap(apperr.ErrInvalidCode)}), linkReq, "link", 400, "invalid_code", ""},
		{"Toss down", link(&fakeDomain{err: wrap(apperr.ErrTossUnavailable)}), linkReq, "link", 502, "toss_unavailable", ""},
		{"a sandbox link refused", link(&fakeDomain{err: wrap(apperr.ErrSandboxRefused)}), linkReq, "link", 400, "sandbox_refused", ""},
		{"an unlink won over the link", link(&fakeDomain{err: wrap(apperr.ErrUnlinkedMeanwhile)}), linkReq, "link", 400, "unlinked_meanwhile", ""},
		{"a broken secret", link(&fakeDomain{err: wrap(apperr.ErrNotConfigured)}), linkReq, "link", 503, "config_fault", ""},
		{"the store down", link(&fakeDomain{err: wrap(apperr.ErrUnavailable)}), linkReq, "link", 503, "unavailable", ""},
		{"a link without a code", link(&fakeDomain{}), request("POST", `{"hash":"h"}`), "link", 400, "invalid_request", ""},
		{"a removed user", unlink(&fakeDomain{unlinked: true}, ok), unlinkReq("GET", "userKey=5&referrer=UNLINK", "", basic("id:pw")), "unlink", 200, "removed", "UNLINK"},
		{"an unknown user", unlink(&fakeDomain{}, ok), unlinkReq("POST", "", `{"userKey":5,"referrer":"WITHDRAWAL_TOSS"}`, basic("id:pw")), "unlink", 200, "unknown_user", "WITHDRAWAL_TOSS"},
		{"a callback without a referrer", unlink(&fakeDomain{}, ok), unlinkReq("GET", "userKey=5", "", basic("id:pw")), "unlink", 200, "unknown_user", "none"},
		{"a callback with a new referrer", unlink(&fakeDomain{}, ok), unlinkReq("GET", "userKey=5&referrer=SOMETHING_NEW", "", basic("id:pw")), "unlink", 200, "unknown_user", "other"},
		{"a wrong password, by the referrer it claims", unlink(&fakeDomain{}, ok), unlinkReq("GET", "userKey=5&referrer=WITHDRAWAL_TERMS", "", basic("id:no")), "unlink", 401, "unauthorized", "WITHDRAWAL_TERMS"},
		{"a wrong password on a bad request is still unauthorized", unlink(&fakeDomain{}, ok), unlinkReq("GET", "userKey=x", "", basic("id:no")), "unlink", 401, "unauthorized", "none"},
		{"a callback not configured", unlink(&fakeDomain{}, auth("", nil)), unlinkReq("GET", "userKey=5&referrer=UNLINK", "", basic("id:pw")), "unlink", 503, "not_configured", "UNLINK"},
		{"a callback whose secret is malformed", unlink(&fakeDomain{}, auth("", wrap(apperr.ErrNotConfigured))), unlinkReq("GET", "userKey=5", "", basic("id:pw")), "unlink", 503, "not_configured", "none"},
		{"a callback whose secret is unreachable", unlink(&fakeDomain{}, auth("", wrap(apperr.ErrUnavailable))), unlinkReq("GET", "userKey=5", "", basic("id:pw")), "unlink", 503, "unavailable", "none"},
		{"a callback with a bad userKey", unlink(&fakeDomain{}, ok), unlinkReq("GET", "userKey=x&referrer=UNLINK", "", basic("id:pw")), "unlink", 400, "invalid_request", "UNLINK"},
		{"a PUT callback", unlink(&fakeDomain{}, ok), unlinkReq("PUT", "userKey=5", "", basic("id:pw")), "unlink", 405, "method_not_allowed", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs capture
			resp, err := c.h(Options{Log: logs.logger(), Namespace: "Studio/Migration"})(lambdaCtx("req-1"), c.req)
			if err != nil || resp.StatusCode != c.status {
				t.Fatalf("answer %d %v, want %d", resp.StatusCode, err, c.status)
			}
			if !slices.Contains(documentedOutcomes[c.route], c.outcome) && !slices.Contains(documentedOutcomes[""], c.outcome) {
				t.Fatalf("this test expects %q, which docs/metrics.md does not list for %s", c.outcome, c.route)
			}
			lines := logs.lines(t)
			if len(lines) == 0 {
				t.Fatal("nothing logged")
			}
			first := lines[len(lines)-1]
			if first["route"] != c.route || first["Route"] != c.route || first["Outcome"] != c.outcome || first["Requests"] != 1.0 ||
				first["requestId"] != "req-1" {
				t.Errorf("the request line is %v, want Route %s, Outcome %s, Requests 1 and the request id", first, c.route, c.outcome)
			}
			want := []string{fmt.Sprintf("Studio/Migration/Requests[Route=%s,Outcome=%s]=1 Count", c.route, c.outcome)}
			if c.referrer != "" {
				if !slices.Contains(documentedReferrers, c.referrer) {
					t.Fatalf("referrer %q is not documented", c.referrer)
				}
				want = append(want, fmt.Sprintf("Studio/Migration/Requests[Route=%s,Outcome=%s,Referrer=%s]=1 Count", c.route, c.outcome, c.referrer))
			}
			sort.Strings(want)
			if got := logs.datapoints(t); !slices.Equal(got, want) {
				t.Errorf("CloudWatch would extract %v, want %v", got, want)
			}
		})
	}
}

func TestTheRequestLineStillSaysWhatItSaid(t *testing.T) {
	t.Parallel()
	var logs capture
	Status(&fakeDomain{}, Options{Log: logs.logger()})(lambdaCtx("req-2"), request("POST", `{"hash":"h"}`))
	lines := logs.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d lines for one status request, want 1", len(lines))
	}
	l := lines[0]
	if l["level"] != "INFO" || l["message"] != "request" || l["route"] != "status" || l["method"] != "POST" ||
		l["status"] != 200.0 || l["requestId"] != "req-2" {
		t.Errorf("line %v", l)
	}
	if _, ok := l["durationMs"].(float64); !ok {
		t.Errorf("no durationMs: %v", l)
	}
	// The namespace defaults to the one config and the template default to.
	if got := logs.datapoints(t); !slices.Equal(got, []string{"TossMigration/Requests[Route=status,Outcome=not_mapped]=1 Count"}) {
		t.Errorf("datapoints %v", got)
	}
}

// Metrics that other packages record below the wrapper (here as a fake domain would) reach
// CloudWatch with the request; those that cannot share the request's line get their own.
func TestMetricsRecordedBelowTheWrapperAreWrittenWithTheRequest(t *testing.T) {
	t.Parallel()
	var logs capture
	d := linkFunc(func(ctx context.Context) error {
		metrics.TossCall(ctx, metrics.CallGenerateToken, 0, nil)
		metrics.TossCall(ctx, metrics.CallLoginMe, 0, fmt.Errorf("%w", apperr.ErrTossUnavailable))
		return fmt.Errorf("%w", apperr.ErrTossUnavailable)
	})
	Link(d, Options{Log: logs.logger()})(lambdaCtx("req-3"), request("POST", `{"hash":"h","authorizationCode":"c"}`))
	want := []string{
		"TossMigration/Requests[Route=link,Outcome=toss_unavailable]=1 Count",
		"TossMigration/TossErrors[Call=generate-token]=0 Count", "TossMigration/TossErrors[Call=login-me]=1 Count",
		"TossMigration/TossLatency[Call=generate-token]=0 Milliseconds", "TossMigration/TossLatency[Call=login-me]=0 Milliseconds",
	}
	if got := logs.datapoints(t); !slices.Equal(got, want) {
		t.Errorf("datapoints %v, want %v", got, want)
	}
	lines := logs.lines(t)
	if len(lines) != 2 || lines[0]["message"] != "request failed" || lines[1]["message"] != "metrics" || lines[1]["requestId"] != "req-3" {
		t.Errorf("lines %v, want the request's and one metrics line with the request id", lines)
	}
}

type linkFunc func(ctx context.Context) error

func (f linkFunc) Link(ctx context.Context, _, _, _ string) error { return f(ctx) }

// panicky panics with a value quoting request data, as a bug might.
type panicky struct{ value string }

func (p panicky) Status(context.Context, string) (bool, error) { panic(p.value) }

func TestARecoveredPanicIsLoggedOnceCountedAndReportedToLambda(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, value, logged string
	}{
		{"a short value is logged whole", "index out of range [3] with length 3", "index out of range [3] with length 3"},
		{"a long value is cut", "bad hash " + strings.Repeat("가", 400), "bad hash " + strings.Repeat("가", (maxPanicValue-9)/3) + "…[truncated]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var logs capture
			resp, err := Status(panicky{c.value}, Options{Log: logs.logger()})(lambdaCtx("req-4"), request("POST", `{"hash":"h"}`))
			var pe panicError
			if !errors.As(err, &pe) || resp.StatusCode != 0 {
				t.Fatalf("answer %d %v; want no response and an error, which Lambda counts in Errors", resp.StatusCode, err)
			}
			if strings.Contains(err.Error(), c.value[:8]) {
				t.Errorf("the error Lambda gets quotes the panic: %v", err)
			}
			lines := logs.lines(t)
			if len(lines) != 1 {
				t.Fatalf("%d lines, want the panic logged once: %v", len(lines), lines)
			}
			l := lines[0]
			if l["level"] != "ERROR" || l["requestId"] != "req-4" || l["status"] != 500.0 || l["panic"] != c.logged {
				t.Errorf("line %v; want ERROR, the request id, status 500 and panic %q", l, c.logged)
			}
			stack, _ := l["stack"].(string)
			if !strings.Contains(stack, "panicky.Status") || len(stack) > maxPanicStack+len("…[truncated]") {
				t.Errorf("the stack does not show where it panicked, or is unbounded (%d bytes): %s", len(stack), stack)
			}
			want := []string{"TossMigration/Panics[Route=status]=1 Count", "TossMigration/Requests[Route=status,Outcome=internal_error]=1 Count"}
			if got := logs.datapoints(t); !slices.Equal(got, want) {
				t.Errorf("datapoints %v, want %v", got, want)
			}
		})
	}
}

// Every sentinel of apperr must have an Outcome of its own: a new one that Classify does not
// map would count as internal_error, and no alarm would tell it apart.
func TestEveryAppErrorHasADocumentedOutcome(t *testing.T) {
	t.Parallel()
	sentinels := map[string]error{
		"ErrHashLinked": apperr.ErrHashLinked, "ErrUserLinked": apperr.ErrUserLinked,
		"ErrInvalidCode": apperr.ErrInvalidCode, "ErrTossUnavailable": apperr.ErrTossUnavailable,
		"ErrUnavailable": apperr.ErrUnavailable, "ErrNotConfigured": apperr.ErrNotConfigured,
		"ErrUnauthorized": apperr.ErrUnauthorized, "ErrSandboxRefused": apperr.ErrSandboxRefused,
		"ErrUnlinkedMeanwhile": apperr.ErrUnlinkedMeanwhile,
	}
	f, err := parser.ParseFile(token.NewFileSet(), "../apperr/apperr.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	ast.Inspect(f, func(n ast.Node) bool {
		if v, ok := n.(*ast.ValueSpec); ok {
			for _, id := range v.Names {
				if strings.HasPrefix(id.Name, "Err") {
					declared = append(declared, id.Name)
				}
			}
		}
		return true
	})
	for _, name := range declared {
		if _, ok := sentinels[name]; !ok {
			t.Errorf("apperr.%s has no case in this test: give it an Outcome in Classify (and docs/metrics.md), then list it here", name)
		}
	}
	all := slices.Concat(documentedOutcomes["status"], documentedOutcomes["link"], documentedOutcomes["unlink"], documentedOutcomes[""])
	for name, e := range sentinels {
		p := Classify(fmt.Errorf("wrapped: %w", e))
		if p.Outcome == "" || p.Outcome == "internal_error" || !slices.Contains(all, p.Outcome) {
			t.Errorf("apperr.%s has Outcome %q, want a documented one of its own", name, p.Outcome)
		}
	}
	for _, e := range []error{apperr.Input("x"), &apperr.TooLargeError{Limit: 1}, errMethod} {
		if p := Classify(e); !slices.Contains(all, p.Outcome) || p.Outcome == "internal_error" {
			t.Errorf("%T has Outcome %q", e, p.Outcome)
		}
	}
	if Classify(ErrNotConfiguredFor(routes.Unlink.Function)).outcomeOn(routes.Unlink.Function) != "not_configured" {
		t.Error("the callback's configuration fault is not called not_configured")
	}
}

// ErrNotConfiguredFor is a configuration fault as a route's dependency reports it.
func ErrNotConfiguredFor(route string) error {
	return fmt.Errorf("%s: secret: %w", route, apperr.ErrNotConfigured)
}

// No log line, request or metrics, carries the hash, the code, the Basic Auth value or the
// userKey (which only the unlink line names, as before).
func TestNoLogLineCarriesRequestSecrets(t *testing.T) {
	t.Parallel()
	var logs capture
	o := Options{Log: logs.logger()}
	ctx := lambdaCtx("req-5")
	src := func(context.Context, bool) ([]string, error) { return []string{"USER:PASS-SENTINEL"}, nil }
	toss := linkFunc(func(ctx context.Context) error {
		metrics.TossCall(ctx, metrics.CallGenerateToken, 0, errors.New("generate-token failed"))
		return nil
	})
	Link(toss, o)(ctx, request("POST", `{"hash":"HASH-SENTINEL","authorizationCode":"CODE-SENTINEL","referrer":"REF-SENTINEL"}`))
	Link(&fakeDomain{err: apperr.ErrInvalidCode}, o)(ctx, request("POST", `{"hash":"HASH-SENTINEL","authorizationCode":"CODE-SENTINEL"}`))
	Status(&fakeDomain{mapped: true}, o)(ctx, request("POST", `{"hash":"HASH-SENTINEL"}`))
	Unlink(&fakeDomain{unlinked: true}, src, o)(ctx, unlinkReq("GET", "userKey=987654321&referrer=REF-SENTINEL", "", basic("USER:PASS-SENTINEL")))
	Unlink(&fakeDomain{}, src, o)(ctx, unlinkReq("POST", "", `{"userKey":987654321}`, basic("USER:WRONG-SENTINEL")))
	for _, l := range logs.lines(t) {
		raw, _ := json.Marshal(l)
		for _, s := range []string{"HASH-SENTINEL", "CODE-SENTINEL", "PASS-SENTINEL", "WRONG-SENTINEL", "REF-SENTINEL", "USER:"} {
			if bytes.Contains(raw, []byte(s)) {
				t.Errorf("a log line carries %s: %s", s, raw)
			}
		}
		if bytes.Contains(raw, []byte("987654321")) && l["message"] != "unlink" {
			t.Errorf("a line other than the unlink line names the userKey: %s", raw)
		}
	}
}
