package functions_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localserver"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
)

// The fault tests call the handlers directly with a context deadline, as Lambda does, and check
// three things of every failure: the contract's answer, a store left exactly as it was, and an
// answer the handler gave by itself, before the deadline. Each fault environment has a proxy of
// its own in front of the shared moto_server (the shared proxy still serialises what reaches
// moto), so faults set here never reach another test, and the tests and their cases run in
// parallel.
//
// No verdict here depends on how fast the machine is (docs/testing.md). The invocation context a
// handler gets reports Lambda's deadline but does not end by itself (see invocation): a handler
// that answers a hung dependency has given up by a deadline of its own, however long that took
// (that this deadline is the invocation's less the margin, shared/httpapi's
// TestAHandlerAnswersBeforeTheLambdaDeadline checks exactly). And the deadlines leave the calls
// before a fault far more time than they need.

// The invocation's remaining time a faulted call gets. The handlers keep httpapi.DefaultMargin
// of it free, so a hung dependency costs the deadline less the margin.
const (
	// short is for calls whose first dependency call is the faulted one, or whose calls before it
	// fail the same way: whichever call the deadline falls in, the answer is the same, so short
	// only sets how long a hung call waits.
	short = 2 * httpapi.DefaultMargin
	// deadline is for calls that must get past other dependencies (DynamoDB, Secrets Manager, a
	// TLS handshake with Toss) before the fault: ten margins, of which the handler keeps one. In
	// ten runs under -race beside two busy loops, the calls that fail fast with this deadline took
	// 36 ms (median) to 269 ms, the calls before the fault included (docs/testing.md): at most a
	// tenth of the 2.7 s they get.
	deadline = 10 * httpapi.DefaultMargin
)

// relaxed is the deadline of calls expected to succeed (set-up and recovery): the functions'
// own timeout (template.yaml's, which the local server simulates).
const relaxed = localserver.Timeout

// The prefixes of the operations the proxy faults.
const (
	allDynamoDB = "DynamoDB_20120810."
	transact    = "DynamoDB_20120810.TransactWriteItems"
	allSecrets  = "secretsmanager."
	getSecret   = "secretsmanager.GetSecretValue"
)

// Profile values the simulated users carry; none may reach a log.
const (
	profName     = "홍길동"
	profPhone    = "01012345678"
	profBirthday = "19930324"
	profCI       = "CI-FAULT-SENTINEL"
)

// Texts of SDK, network and TLS errors, which a response body must never carry.
var internalTexts = []string{"operation error", "StatusCode", "RequestID", "api error", "dial tcp",
	"x509", "tls:", "context deadline", "context canceled", "connection refused", "connection reset",
	"EOF", "127.0.0.1", "https://", "http://", "secretsmanager", "DynamoDB", "Throttling",
	"TransactionCanceled", "InternalServerError", "arn:aws"}

// ownMoto puts a proxy of this test's own in front of the shared moto_server, so that faults set
// on it reach no other test.
func ownMoto(t *testing.T) *devenv.Moto {
	t.Helper()
	shared := devenv.TestMoto(t)
	p, err := devenv.NewProxy(shared.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	m := &devenv.Moto{Endpoint: p.URL(), Secrets: p.URL(), Proxy: p, SecretsProxy: p}
	if shared.Secrets != shared.Endpoint {
		sp, err := devenv.NewProxy(shared.Secrets)
		if err != nil {
			p.Close()
			t.Fatal(err)
		}
		m.Secrets, m.SecretsProxy = sp.URL(), sp
	}
	t.Cleanup(m.Close)
	return m
}

// fx is one warm container of each function on a stack behind its own proxy.
type fx struct {
	t        *testing.T
	stack    *devenv.Stack
	moto     *devenv.Moto
	secret   string // the secret's name, for overwriting it
	cfg      config.Config
	log      *slog.Logger
	store    *store.Table
	sharedDB *dynamodb.Client // the shared moto_server, past the faulted proxy
	logs     *devenv.SyncBuffer

	status, link, unlink httpapi.Handler

	mu     sync.Mutex
	codes  []string // every authorization code used
	bodies []string // every request body sent
}

func newFx(t *testing.T, tweak func(*config.Config)) *fx {
	t.Helper()
	m := ownMoto(t)
	name := "toss-migration/faults-" + devenv.Unique()
	stack, err := devenv.Start(context.Background(), devenv.Options{Moto: m, Secret: name, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	e := &fx{t: t, stack: stack, moto: m, secret: name, store: store.New(stack.DB, stack.Table),
		sharedDB: devenv.TestMoto(t).DynamoDB(), logs: &devenv.SyncBuffer{}}
	e.cfg = stack.Config()
	// Keep decrypted fields, so that personal data flows through the code the log check watches.
	e.cfg.Keep = []string{"name", "phone", "birthday", "ci"}
	e.log = slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if tweak != nil {
		tweak(&e.cfg)
	}
	e.status = devenv.Status(e.cfg, e.log, stack.DB)
	e.link = devenv.Link(e.cfg, e.log, stack.DB, stack.SM)
	e.unlink = devenv.Unlink(e.cfg, e.log, stack.DB, stack.SM)
	t.Cleanup(e.checkLogs)
	return e
}

// newLink is a cold link container with a changed configuration.
func (e *fx) newLink(tweak func(*config.Config)) httpapi.Handler {
	c := e.cfg
	tweak(&c)
	return devenv.Link(c, e.log, e.stack.DB, e.stack.SM)
}

// secretWith stores a changed copy of the stack's secret under a new name and returns its ARN.
func (e *fx) secretWith(change func(*secrets.Document)) string {
	e.t.Helper()
	doc := e.stack.Doc
	change(&doc)
	arn, err := devenv.PutSecret(context.Background(), e.stack.SM, "toss-migration/faults-"+devenv.Unique(), doc)
	if err != nil {
		e.t.Fatal(err)
	}
	return arn
}

// overwriteSecret replaces the value of the stack's own secret.
func (e *fx) overwriteSecret(doc secrets.Document) {
	e.t.Helper()
	if _, err := devenv.PutSecret(context.Background(), e.stack.SM, e.secret, doc); err != nil {
		e.t.Fatal(err)
	}
}

func (e *fx) mint(userKey int64) string {
	code := e.stack.Sim.Authorize(tosssim.User{UserKey: userKey, Name: profName, Phone: profPhone,
		Birthday: profBirthday, CI: profCI, Gender: "MALE", Nationality: "LOCAL"}, "SANDBOX")
	e.mu.Lock()
	e.codes = append(e.codes, code)
	e.mu.Unlock()
	return code
}

// call invokes h as Lambda would, with d left before the deadline. It fails the test when the
// handler answered only because the invocation ended, and checks that a failure's body is the
// contract's error shape with no internals in it.
func (e *fx) call(h httpapi.Handler, d time.Duration, r *http.Request) (int, string) {
	e.t.Helper()
	ev, err := localserver.Event(r)
	if err != nil {
		e.t.Fatal(err)
	}
	if ev.Body != "" {
		e.mu.Lock()
		e.bodies = append(e.bodies, ev.Body)
		e.mu.Unlock()
	}
	ctx, ended := invocation(d)
	defer ended()
	start := time.Now()
	resp, err := h(ctx, ev)
	elapsed := time.Since(start)
	if err != nil {
		e.t.Fatalf("%s %s: the handler returned an error to Lambda: %v", r.Method, r.URL.Path, err)
	}
	if ctx.Err() != nil {
		e.t.Errorf("%s %s answered %d only when the invocation itself ended (%v after its %v deadline): the handler did not give up by itself",
			r.Method, r.URL.Path, resp.StatusCode, elapsed-d, d)
	}
	if d < relaxed {
		e.t.Logf("%s %s: %d in %v", r.Method, r.URL.Path, resp.StatusCode, elapsed.Round(time.Millisecond))
	}
	if resp.StatusCode != http.StatusOK {
		checkErrorBody(e.t, resp.Body)
	}
	return resp.StatusCode, resp.Body
}

// invocation is the context of an invocation with d left: it reports Lambda's deadline, d from
// now, but ends only relaxed after it. So a handler answers a hung dependency before the end
// only by its own margin, and a busy machine cannot turn a right answer into a failure: the
// handler would have to be slower than relaxed.
func invocation(d time.Duration) (context.Context, context.CancelFunc) {
	at := time.Now().Add(d)
	backstop, cancel := context.WithDeadline(context.Background(), at.Add(relaxed))
	return deadlineOnly{backstop, at}, cancel
}

type deadlineOnly struct {
	context.Context
	at time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.at, true }

func (e *fx) doStatus(h httpapi.Handler, d time.Duration, hash string) (int, string) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/auth/migration/status", strings.NewReader(`{"hash":"`+hash+`"}`))
	r.Header.Set("Content-Type", "application/json")
	return e.call(h, d, r)
}

func (e *fx) doLink(h httpapi.Handler, d time.Duration, hash, code string) (int, string) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/auth/migration/link",
		strings.NewReader(`{"hash":"`+hash+`","authorizationCode":"`+code+`","referrer":"SANDBOX"}`))
	r.Header.Set("Content-Type", "application/json")
	return e.call(h, d, r)
}

func (e *fx) doUnlink(h httpapi.Handler, d time.Duration, userKey int64) (int, string) {
	e.t.Helper()
	r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/auth/toss/unlink?userKey=%d&referrer=UNLINK", userKey), nil)
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(e.stack.BasicAuth)))
	return e.call(h, d, r)
}

// seed links hash and userKey through the store, past every handler.
func (e *fx) seed(hash string, userKey int64) {
	e.t.Helper()
	if err := e.store.Link(context.Background(), hash, userKey, time.Now(), map[string]string{"name": "seeded"}); err != nil {
		e.t.Fatal(err)
	}
}

// snapshot renders every item of the table, read from the shared moto_server so that a fault on
// this test's proxy cannot hide it.
func (e *fx) snapshot() string {
	e.t.Helper()
	out, err := e.sharedDB.Scan(context.Background(), &dynamodb.ScanInput{TableName: &e.stack.Table, ConsistentRead: aws.Bool(true)})
	if err != nil {
		e.t.Fatal(err)
	}
	if out.LastEvaluatedKey != nil {
		e.t.Fatal("the table outgrew one Scan page")
	}
	items := make([]string, 0, len(out.Items))
	for _, it := range out.Items {
		items = append(items, render(&types.AttributeValueMemberM{Value: it}))
	}
	sort.Strings(items)
	return strings.Join(items, "\n")
}

func render(av types.AttributeValue) string {
	switch v := av.(type) {
	case *types.AttributeValueMemberS:
		return fmt.Sprintf("S:%q", v.Value)
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberM:
		keys := make([]string, 0, len(v.Value))
		for k := range v.Value {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + render(v.Value[k])
		}
		return "{" + strings.Join(parts, ",") + "}"
	default:
		return fmt.Sprintf("%T", av)
	}
}

func (e *fx) sameStore(before string) {
	e.t.Helper()
	if after := e.snapshot(); after != before {
		e.t.Errorf("the store changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// checkLogs runs after every fault test: nothing secret or personal may have been logged.
func (e *fx) checkLogs() {
	t := e.t
	logs := e.logs.String()
	if !strings.Contains(logs, `"route":`) {
		t.Errorf("the handlers logged nothing: %q", logs)
	}
	e.mu.Lock()
	forbidden := append(append([]string(nil), e.codes...), e.bodies...)
	e.mu.Unlock()
	forbidden = append(forbidden, e.stack.Sim.IssuedTokens()...)
	forbidden = append(forbidden, profName, profPhone, profBirthday, profCI,
		e.stack.Doc.DecryptionKey, e.stack.AAD, e.stack.BasicAuth,
		base64.StdEncoding.EncodeToString([]byte(e.stack.BasicAuth)), "local-secret",
		"-----BEGIN", "-----END", "PRIVATE KEY", "Bearer", "Basic ", "accessToken", "refreshToken", "authorizationCode")
	for _, s := range forbidden {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("the logs contain %q", s)
		}
	}
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		var line map[string]any
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Errorf("log line is not JSON: %s", l)
		}
	}
}

// checkErrorBody: exactly {"error":{"code","message"}}, and no internals in it.
func checkErrorBody(t *testing.T, body string) {
	t.Helper()
	var b map[string]map[string]string
	if err := json.Unmarshal([]byte(body), &b); err != nil || len(b) != 1 || len(b["error"]) != 2 ||
		b["error"]["code"] == "" || b["error"]["message"] == "" {
		t.Errorf("error body is not the contract's shape: %s", body)
	}
	for _, s := range internalTexts {
		if strings.Contains(body, s) {
			t.Errorf("error body carries internals (%q): %s", s, body)
		}
	}
}

func isMapped(e *fx, hash string) bool {
	e.t.Helper()
	ok, err := e.store.IsMapped(context.Background(), hash)
	if err != nil {
		e.t.Fatal(err)
	}
	return ok
}

// ---- Toss ----

func TestTossFaultsAnswerBeforeTheDeadlineAndWriteNothing(t *testing.T) {
	t.Parallel()
	otherCA, err := devcert.NewCA("Not Toss's CA")
	if err != nil {
		t.Fatal(err)
	}
	foreignCert, foreignKey, err := otherCA.Issue("partner-client", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	closedPort, err := devenv.FreePort()
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name   string
		status int
		code   string
		// run makes the failing link and returns the code it spent (or tried to).
		run func(e *fx) (int, string)
		// unspent: Toss never saw the code, so it still links afterwards.
		unspent bool
	}{
		{"generate-token hangs past the deadline", 502, "TOSS_UNAVAILABLE", func(e *fx) (int, string) {
			e.stack.Sim.SetFault(tosssim.GenerateToken, tosssim.FaultTimeout)
			code := e.mint(101)
			c, b := e.doLink(e.link, deadline, "toss-hash", code)
			e.stack.Sim.SetFault(tosssim.GenerateToken, tosssim.FaultNone)
			// The code reached Toss: a retry with it cannot succeed, and must say so.
			c2, b2 := e.doLink(e.link, relaxed, "toss-hash", code)
			want(e.t, "retry with the code after the timeout", c2, b2, 400, `"INVALID_AUTHORIZATION_CODE"`)
			return c, b
		}, false},
		{"login-me hangs past the deadline", 502, "TOSS_UNAVAILABLE", func(e *fx) (int, string) {
			e.stack.Sim.SetFault(tosssim.LoginMe, tosssim.FaultTimeout)
			defer e.stack.Sim.SetFault(tosssim.LoginMe, tosssim.FaultNone)
			c, b := e.doLink(e.link, deadline, "toss-hash", e.mint(102))
			if n := e.stack.Sim.Calls(tosssim.LoginMe); n != 1 {
				e.t.Errorf("login-me was reached %d times, want 1: the hung call", n)
			}
			return c, b
		}, false},
		{"connection refused", 502, "TOSS_UNAVAILABLE", func(e *fx) (int, string) {
			h := e.newLink(func(c *config.Config) { c.TossBaseURL = fmt.Sprintf("https://127.0.0.1:%d", closedPort) })
			return e.doLink(h, deadline, "toss-hash", e.mint(103))
		}, true},
		// Our own certificate refused by Toss is ours to fix, not "Toss unavailable, try later".
		{"client certificate from another CA", 503, "SERVICE_UNAVAILABLE", func(e *fx) (int, string) {
			arn := e.secretWith(func(d *secrets.Document) {
				d.MTLSCertificate, d.MTLSPrivateKey = string(foreignCert), string(foreignKey)
			})
			h := e.newLink(func(c *config.Config) { c.SecretID = arn })
			return e.doLink(h, deadline, "toss-hash", e.mint(104))
		}, true},
		{"server certificate from an untrusted CA", 502, "TOSS_UNAVAILABLE", func(e *fx) (int, string) {
			h := e.newLink(func(c *config.Config) { c.TossRoots = otherCA.Pool() })
			return e.doLink(h, deadline, "toss-hash", e.mint(105))
		}, true},
		{"secret without a certificate", 503, "SERVICE_UNAVAILABLE", func(e *fx) (int, string) {
			arn := e.secretWith(func(d *secrets.Document) { d.MTLSCertificate = "" })
			h := e.newLink(func(c *config.Config) { c.SecretID = arn })
			return e.doLink(h, deadline, "toss-hash", e.mint(106))
		}, true},
		{"bare invalid_grant for a code Toss never issued", 400, "INVALID_AUTHORIZATION_CODE", func(e *fx) (int, string) {
			code := "never-issued-" + devenv.Unique()
			e.mu.Lock()
			e.codes = append(e.codes, code)
			e.mu.Unlock()
			return e.doLink(e.link, deadline, "toss-hash", code)
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newFx(t, nil)
			before := e.snapshot()
			e.stack.Sim.ResetCounters()
			c, b := tc.run(e)
			want(t, tc.name, c, b, tc.status, `"`+tc.code+`"`)
			e.sameStore(before)
			if isMapped(e, "toss-hash") {
				t.Fatal("a failed link wrote a mapping")
			}
			if tc.unspent && e.stack.Sim.Calls(tosssim.GenerateToken) != 0 {
				t.Errorf("generate-token was reached %d times", e.stack.Sim.Calls(tosssim.GenerateToken))
			}
			// The same warm container links once Toss is back.
			c, b = e.doLink(e.link, relaxed, "toss-hash", e.mint(199))
			want(t, "link after the fault", c, b, 200, `{"success":true}`)
		})
	}
}

// A rotated secret takes effect on the next refresh: a certificate Toss does not accept fails
// the warm container's links (a configuration fault: 503), and rotating back to a good one
// heals it without a restart.
func TestARotatedCertificateTakesEffectInAWarmContainer(t *testing.T) {
	t.Parallel()
	e := newFx(t, func(c *config.Config) { c.SecretTTL = time.Millisecond })
	c, b := e.doLink(e.link, relaxed, "rot-1", e.mint(111))
	want(t, "link with the good certificate", c, b, 200, `{"success":true}`)

	ca, err := devcert.NewCA("Not Toss's CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("partner-client", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	bad := e.stack.Doc
	bad.MTLSCertificate, bad.MTLSPrivateKey = string(cert), string(key)
	e.overwriteSecret(bad)
	time.Sleep(5 * time.Millisecond) // past the TTL
	before := e.snapshot()
	c, b = e.doLink(e.link, deadline, "rot-2", e.mint(112))
	want(t, "link with a certificate from another CA", c, b, 503, `"SERVICE_UNAVAILABLE"`)
	e.sameStore(before)

	e.overwriteSecret(e.stack.Doc)
	time.Sleep(5 * time.Millisecond)
	c, b = e.doLink(e.link, relaxed, "rot-2", e.mint(112))
	want(t, "link after rotating back", c, b, 200, `{"success":true}`)
}

// ---- DynamoDB ----

type ddbFault struct {
	name  string
	fault devenv.Fault
}

var ddbFaults = []ddbFault{
	{"unreachable", devenv.FaultUnreachable},
	{"slow past the deadline", devenv.FaultHang},
	{"throttled", devenv.FaultThrottle},
	{"500", devenv.FaultServerError},
}

func TestDynamoDBFaultsAnswer503ChangeNothingAndTheWarmContainerRecovers(t *testing.T) {
	t.Parallel()
	type tcase struct {
		fn     string // status, link or unlink
		prefix string
		f      ddbFault
	}
	var cases []tcase
	for _, f := range ddbFaults {
		cases = append(cases, tcase{"status", allDynamoDB, f}, tcase{"link", allDynamoDB, f}, tcase{"unlink", allDynamoDB, f})
	}
	for _, f := range append(ddbFaults, ddbFault{"transaction cancelled, not by a condition", devenv.FaultTxCancelled}) {
		cases = append(cases, tcase{"link", transact, f}, tcase{"unlink", transact, f})
	}
	for _, tc := range cases {
		t.Run(tc.fn+"/"+tc.prefix+"/"+tc.f.name, func(t *testing.T) {
			t.Parallel()
			e := newFx(t, nil)
			const hash, userKey = "ddb-hash", int64(201)
			p := e.moto.Proxy
			fault := func() { p.SetFault(tc.prefix, tc.f.fault) }
			clear := func() { p.SetFault(tc.prefix, devenv.FaultNone) }
			switch tc.fn {
			case "status":
				e.seed(hash, userKey)
				before := e.snapshot()
				fault()
				c, b := e.doStatus(e.status, short, hash)
				want(t, "status", c, b, 503, `"SERVICE_UNAVAILABLE"`)
				clear()
				e.sameStore(before)
				c, b = e.doStatus(e.status, relaxed, hash)
				want(t, "status after the fault", c, b, 200, `{"isMapped":true}`)

			case "link":
				// Warm the secret first, so that only DynamoDB can fail.
				c, b := e.doLink(e.link, relaxed, "warm-up", e.mint(200))
				want(t, "warm-up link", c, b, 200, `{"success":true}`)
				before := e.snapshot()
				e.stack.Sim.ResetCounters()
				code := e.mint(userKey)
				fault()
				d := short
				if tc.prefix == transact {
					d = deadline
				}
				p.ResetCalls()
				c, b = e.doLink(e.link, d, hash, code)
				want(t, "link", c, b, 503, `"SERVICE_UNAVAILABLE"`)
				if n := p.Calls()[transact]; tc.prefix == transact && n == 0 {
					t.Error("the faulted write was never reached")
				}
				clear()
				e.sameStore(before)
				if tc.prefix == allDynamoDB {
					// The mapped-hash check failed first: Toss was not asked, the code is unspent.
					if n := e.stack.Sim.Calls(tosssim.GenerateToken); n != 0 {
						t.Errorf("generate-token called %d times although the store was down", n)
					}
				} else {
					code = e.mint(userKey) // spent at Toss before the write failed
				}
				c, b = e.doLink(e.link, relaxed, hash, code)
				want(t, "link after the fault", c, b, 200, `{"success":true}`)
				if m, err := e.store.Get(context.Background(), hash); err != nil || m == nil || m.UserKey != userKey {
					t.Fatalf("after recovery: %+v %v", m, err)
				}

			case "unlink":
				e.seed(hash, userKey)
				c, b := e.doUnlink(e.unlink, relaxed, 0) // warm the secret; userKey 0 is unknown
				want(t, "warm-up unlink", c, b, 200, `{"success":true}`)
				before := e.snapshot()
				fault()
				d := short
				if tc.prefix == transact {
					d = deadline
				}
				p.ResetCalls()
				c, b = e.doUnlink(e.unlink, d, userKey)
				want(t, "unlink", c, b, 503, `"SERVICE_UNAVAILABLE"`)
				if n := p.Calls()[transact]; tc.prefix == transact && n == 0 {
					t.Error("the faulted write was never reached")
				}
				clear()
				e.sameStore(before) // the mapping is whole: both items, unchanged
				c, b = e.doUnlink(e.unlink, relaxed, userKey)
				want(t, "unlink after the fault", c, b, 200, `{"success":true}`)
				// What remains is the unlinks' tombstones (the source of their events), nothing else.
				for _, it := range strings.Split(e.snapshot(), "\n") {
					if isMapped(e, hash) || !strings.Contains(it, `state=S:"unlinked"`) {
						t.Fatalf("unlink left items behind:\n%s", e.snapshot())
					}
				}
			}
		})
	}
}

// A throttle that passes is ridden out by the SDK's retries (its backoff is up to 2 s before the
// second attempt), within the deadline, and a retried transaction writes the mapping once.
func TestATransientThrottleIsRetriedWithinTheDeadline(t *testing.T) {
	t.Parallel()
	const d = relaxed // the calls succeed: the function's own timeout, not a guess at the backoff
	e := newFx(t, nil)
	p := e.moto.Proxy
	c, b := e.doLink(e.link, relaxed, "warm-up", e.mint(250))
	want(t, "warm-up link", c, b, 200, `{"success":true}`)

	p.ResetCalls()
	p.SetFaultTimes(allDynamoDB+"GetItem", devenv.FaultThrottle, 1)
	c, b = e.doStatus(e.status, d, "warm-up")
	want(t, "status throttled once", c, b, 200, `{"isMapped":true}`)
	if n := p.Calls()[allDynamoDB+"GetItem"]; n != 2 {
		t.Errorf("%d GetItem attempts, want 2 (one throttled, one retried)", n)
	}

	p.ResetCalls()
	p.SetFaultTimes(transact, devenv.FaultThrottle, 1)
	c, b = e.doLink(e.link, d, "throttled-once", e.mint(251))
	want(t, "link throttled once at the write", c, b, 200, `{"success":true}`)
	if n := p.Calls()[transact]; n != 2 {
		t.Errorf("%d TransactWriteItems attempts, want 2", n)
	}
	if m, err := e.store.Get(context.Background(), "throttled-once"); err != nil || m == nil || m.UserKey != 251 {
		t.Fatalf("after the retried write: %+v %v", m, err)
	}
}

// ---- Secrets Manager ----

func TestSecretsManagerDownOnAColdContainerAnswers503ThenRecovers(t *testing.T) {
	t.Parallel()
	for _, f := range ddbFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			e := newFx(t, nil)
			const hash, userKey = "sm-hash", int64(301)
			e.seed("seeded-hash", 302)
			before := e.snapshot()
			code := e.mint(userKey)
			e.moto.SecretsProxy.SetFault(allSecrets, f.fault)

			c, b := e.doLink(e.link, short, hash, code)
			want(t, "link", c, b, 503, `"SERVICE_UNAVAILABLE"`)
			if n := e.stack.Sim.Calls(tosssim.GenerateToken); n != 0 {
				t.Errorf("generate-token called %d times without the mTLS identity", n)
			}
			c, b = e.doUnlink(e.unlink, short, 302)
			want(t, "unlink", c, b, 503, `"SERVICE_UNAVAILABLE"`)
			// status reads no secret: it keeps answering.
			c, b = e.doStatus(e.status, relaxed, "seeded-hash")
			want(t, "status", c, b, 200, `{"isMapped":true}`)
			e.sameStore(before)

			e.moto.SecretsProxy.SetFault(allSecrets, devenv.FaultNone)
			c, b = e.doLink(e.link, relaxed, hash, code) // the code was never spent
			want(t, "link after recovery", c, b, 200, `{"success":true}`)
			c, b = e.doUnlink(e.unlink, relaxed, 302)
			want(t, "unlink after recovery", c, b, 200, `{"success":true}`)
			if isMapped(e, "seeded-hash") {
				t.Fatal("unlink after recovery left the mapping")
			}
		})
	}
}

func TestAFailedSecretRefreshKeepsServingTheLastGoodValue(t *testing.T) {
	t.Parallel()
	for _, f := range ddbFaults {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			e := newFx(t, func(c *config.Config) { c.SecretTTL = time.Millisecond })
			c, b := e.doLink(e.link, relaxed, "good-1", e.mint(401))
			want(t, "first link", c, b, 200, `{"success":true}`)
			c, b = e.doUnlink(e.unlink, relaxed, 0)
			want(t, "first unlink", c, b, 200, `{"success":true}`)
			e.seed("seeded", 402)

			time.Sleep(5 * time.Millisecond) // both caches are past the TTL
			sp := e.moto.SecretsProxy
			sp.SetFault(allSecrets, f.fault)
			sp.ResetCalls()
			c, b = e.doLink(e.link, relaxed, "good-2", e.mint(403))
			want(t, "link while Secrets Manager fails", c, b, 200, `{"success":true}`)
			c, b = e.doUnlink(e.unlink, relaxed, 402)
			want(t, "unlink while Secrets Manager fails", c, b, 200, `{"success":true}`)
			refreshes := sp.Calls()[getSecret]
			if refreshes == 0 {
				t.Fatal("no refresh was attempted after the TTL")
			}
			// A failed refresh is not retried on every request.
			c, b = e.doLink(e.link, relaxed, "good-3", e.mint(404))
			want(t, "another link", c, b, 200, `{"success":true}`)
			if n := sp.Calls()[getSecret]; n != refreshes {
				t.Errorf("a failed refresh was retried at once (%d calls, then %d)", refreshes, n)
			}
			sp.SetFault(allSecrets, devenv.FaultNone)
			if isMapped(e, "seeded") || !isMapped(e, "good-2") || !isMapped(e, "good-3") {
				t.Fatalf("store after the links and unlink:\n%s", e.snapshot())
			}
		})
	}
}

func TestSecretsManagerIsCalledOncePerContainerPerTTL(t *testing.T) {
	t.Parallel()
	e := newFx(t, nil)
	sp := e.moto.SecretsProxy
	sp.ResetCalls()
	// Ten concurrent first requests of a cold container share one fetch.
	var wg sync.WaitGroup
	codes := make([]string, 10)
	for i := range codes {
		codes[i] = e.mint(int64(500 + i))
	}
	results := make([]int, 10)
	for i := range codes {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "/api/auth/migration/link",
				strings.NewReader(fmt.Sprintf(`{"hash":"once-%d","authorizationCode":"%s","referrer":"SANDBOX"}`, i, codes[i])))
			r.Header.Set("Content-Type", "application/json")
			ev, _ := localserver.Event(r)
			ctx, cancel := context.WithTimeout(context.Background(), relaxed)
			defer cancel()
			resp, _ := e.link(ctx, ev)
			results[i] = resp.StatusCode
		})
	}
	wg.Wait()
	for i, s := range results {
		if s != 200 {
			t.Errorf("concurrent link %d: %d", i, s)
		}
	}
	for i := range 10 {
		c, b := e.doLink(e.link, relaxed, fmt.Sprintf("once-more-%d", i), e.mint(int64(600+i)))
		want(t, "link", c, b, 200, `{"success":true}`)
	}
	if n := sp.Calls()[getSecret]; n != 1 {
		t.Errorf("link: %d GetSecretValue calls for 20 links in one TTL, want 1", n)
	}
	for i := range 10 {
		c, b := e.doUnlink(e.unlink, relaxed, int64(500+i))
		want(t, "unlink", c, b, 200, `{"success":true}`)
	}
	if n := sp.Calls()[getSecret]; n != 2 {
		t.Errorf("%d GetSecretValue calls for a link and an unlink container, want 2", n)
	}
}
