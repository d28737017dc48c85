package functions_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localserver"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/store"
)

// The whole product over HTTP: moto_server (DynamoDB, Secrets Manager) and the Toss simulator
// over mTLS, behind the same handlers the Lambda functions run.
func TestMain(m *testing.M) { devenv.RunTests(m) }

type env struct {
	t     *testing.T
	stack *devenv.Stack
	srv   *httptest.Server
	store *store.Table
	logs  *devenv.SyncBuffer
}

func start(t *testing.T, opt devenv.Options, tweak func(*config.Config)) *env {
	t.Helper()
	stack := devenv.ForTest(t, opt)
	cfg := stack.Config()
	logs := &devenv.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if tweak != nil {
		tweak(&cfg)
	}
	h := localserver.Handler(devenv.Handlers(cfg, log, stack.DB, stack.SM), nil)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, stack: stack, srv: srv, store: store.New(stack.DB, stack.Table), logs: logs}
}

func (e *env) post(path, body string, hdr ...string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) (int, string) {
	e.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) status(hash string) string {
	e.t.Helper()
	code, body := e.post("/api/auth/migration/status", `{"hash":"`+hash+`"}`)
	if code != 200 {
		e.t.Fatalf("status: %d %s", code, body)
	}
	return body
}

func (e *env) link(hash, code string) (int, string) {
	e.t.Helper()
	return e.post("/api/auth/migration/link", `{"hash":"`+hash+`","authorizationCode":"`+code+`","referrer":"SANDBOX"}`)
}

func (e *env) unlinkGET(userKey, auth string) (int, string) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/auth/toss/unlink?userKey="+userKey+"&referrer=UNLINK", nil)
	if auth != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
	}
	return e.do(req)
}

func (e *env) unlinkPOST(userKey, auth string) (int, string) {
	e.t.Helper()
	return e.post("/api/auth/toss/unlink", `{"userKey":`+userKey+`,"referrer":"WITHDRAWAL_TOSS"}`,
		"Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
}

func (e *env) code(userKey int64) string {
	return e.stack.Sim.Authorize(tosssim.User{UserKey: userKey, Name: "홍길동", Phone: "01012345678",
		Birthday: "19930324", CI: "CI-VALUE-SENTINEL", Gender: "MALE", Nationality: "LOCAL"}, "SANDBOX")
}

func want(t *testing.T, what string, gotCode int, gotBody string, code int, body string) {
	t.Helper()
	if gotCode != code || !strings.Contains(gotBody, body) {
		t.Fatalf("%s: %d %s, want %d containing %s", what, gotCode, gotBody, code, body)
	}
}

func TestTheWholeFlowLinksAndUnlinksByGETAndPOST(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, nil)
	auth := e.stack.BasicAuth

	want(t, "status before", 200, e.status("flow-hash"), 200, `{"isMapped":false}`)
	c, b := e.link("flow-hash", e.code(443731104))
	want(t, "link", c, b, 200, `{"success":true}`)
	want(t, "status after link", 200, e.status("flow-hash"), 200, `{"isMapped":true}`)
	c, b = e.unlinkGET("443731104", auth)
	want(t, "unlink GET", c, b, 200, `{"success":true}`)
	want(t, "status after unlink", 200, e.status("flow-hash"), 200, `{"isMapped":false}`)
	c, b = e.unlinkGET("443731104", auth)
	want(t, "unlink repeated", c, b, 200, `{"success":true}`)

	c, b = e.link("flow-hash", e.code(443731104))
	want(t, "relink", c, b, 200, `{"success":true}`)
	c, b = e.unlinkPOST("443731104", auth)
	want(t, "unlink POST", c, b, 200, `{"success":true}`)
	want(t, "status after POST unlink", 200, e.status("flow-hash"), 200, `{"isMapped":false}`)
	c, b = e.unlinkGET("0", auth)
	want(t, "the console's test userKey 0", c, b, 200, `{"success":true}`)
}

func TestLinkOnAMappedHashSpendsNoCode(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, nil)
	c, b := e.link("mapped", e.code(11))
	want(t, "first link", c, b, 200, `"success":true`)
	calls := e.stack.Sim.Calls(tosssim.GenerateToken)

	unspent := e.code(12)
	c, b = e.link("mapped", unspent)
	want(t, "link on a mapped hash", c, b, 200, `"success":true`)
	if n := e.stack.Sim.Calls(tosssim.GenerateToken); n != calls {
		t.Fatalf("Toss was called %d times for a mapped hash", n-calls)
	}
	// The code is still good: it links another hash.
	c, b = e.link("other", unspent)
	want(t, "the unspent code still works", c, b, 200, `"success":true`)
}

func TestACodeIsSingleUse(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, nil)
	code := e.code(21)
	c, b := e.link("first", code)
	want(t, "first use", c, b, 200, `"success":true`)
	c, b = e.link("second", code)
	want(t, "second use", c, b, 400, `"INVALID_AUTHORIZATION_CODE"`)
	if ok, _ := e.store.IsMapped(context.Background(), "second"); ok {
		t.Fatal("a rejected code wrote a mapping")
	}
}

func TestConflictsBothWaysChangeNothing(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, nil)
	ctx := context.Background()
	c, b := e.link("hash-1", e.code(31))
	want(t, "link", c, b, 200, `"success":true`)
	c, b = e.link("hash-2", e.code(31))
	want(t, "same user, another hash", c, b, 409, `"USER_ALREADY_LINKED"`)
	if ok, _ := e.store.IsMapped(ctx, "hash-2"); ok {
		t.Fatal("the conflicting hash was written")
	}
	// A hash already mapped answers success without Toss (contract §5), so a hash conflict can
	// only come from a race; the store test covers it. Here: the same user from another code.
	if m, _ := e.store.Get(ctx, "hash-1"); m == nil || m.UserKey != 31 {
		t.Fatalf("the original mapping changed: %+v", m)
	}
}

func TestAWrongBasicAuthDeletesNothing(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, nil)
	c, b := e.link("kept", e.code(41))
	want(t, "link", c, b, 200, `"success":true`)
	for _, auth := range []string{"", "local-unlink:wrong", e.stack.BasicAuth + "\n"} {
		c, b := e.unlinkGET("41", auth)
		want(t, "unlink with "+auth, c, b, 401, `"UNAUTHORIZED"`)
		c, b = e.unlinkPOST("41", auth)
		want(t, "unlink POST with "+auth, c, b, 401, `"UNAUTHORIZED"`)
	}
	want(t, "status", 200, e.status("kept"), 200, `{"isMapped":true}`)
}

func TestAnUnconfiguredCallbackFailsClosed(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{BasicAuth: devenv.NoBasicAuth}, nil)
	c, b := e.link("kept", e.code(51))
	want(t, "link", c, b, 200, `"success":true`)
	for _, auth := range []string{"", ":"} {
		c, b := e.unlinkGET("51", auth)
		want(t, "unlink", c, b, 503, `"SERVICE_UNAVAILABLE"`)
	}
	want(t, "status", 200, e.status("kept"), 200, `{"isMapped":true}`)
}

func TestKeptProfileFieldsAreStoredDecryptedAndUnlinkedWithTheMapping(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, func(c *config.Config) { c.Keep = []string{"name", "birthday"} })
	ctx := context.Background()
	c, b := e.link("profile", e.code(61))
	want(t, "link", c, b, 200, `"success":true`)
	m, err := e.store.Get(ctx, "profile")
	if err != nil || m == nil {
		t.Fatal(m, err)
	}
	if len(m.Profile) != 2 || m.Profile["name"] != "홍길동" || m.Profile["birthday"] != "19930324" {
		t.Fatalf("kept %v, want exactly name and birthday, decrypted", m.Profile)
	}
	c, b = e.unlinkGET("61", e.stack.BasicAuth)
	want(t, "unlink", c, b, 200, `"success":true`)
	if m, _ := e.store.Get(ctx, "profile"); m != nil {
		t.Fatalf("profile survived unlink: %+v", m)
	}
}

func TestByDefaultNoProfileFieldIsKept(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, nil)
	c, b := e.link("minimal", e.code(62))
	want(t, "link", c, b, 200, `"success":true`)
	if m, _ := e.store.Get(context.Background(), "minimal"); m == nil || m.UserKey != 62 || len(m.Profile) != 0 {
		t.Fatalf("stored %+v, want the userKey alone", m)
	}
}

func TestTossFailuresGetTheirContractAnswerAndWriteNothing(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		endpoint tosssim.Endpoint
		fault    tosssim.Fault
		status   int
		code     string
	}{
		{"generate-token 5xx", tosssim.GenerateToken, tosssim.Fault5xx, 502, "TOSS_UNAVAILABLE"},
		{"generate-token FAIL envelope", tosssim.GenerateToken, tosssim.FaultFailEnvelope, 502, "TOSS_UNAVAILABLE"},
		{"generate-token malformed", tosssim.GenerateToken, tosssim.FaultMalformed, 502, "TOSS_UNAVAILABLE"},
		{"login-me 5xx", tosssim.LoginMe, tosssim.Fault5xx, 502, "TOSS_UNAVAILABLE"},
		{"login-me FAIL envelope", tosssim.LoginMe, tosssim.FaultFailEnvelope, 502, "TOSS_UNAVAILABLE"},
		{"login-me USER_KEY_NOT_FOUND", tosssim.LoginMe, tosssim.FaultUserKeyNotFound, 502, "TOSS_UNAVAILABLE"},
		{"login-me without userKey", tosssim.LoginMe, tosssim.FaultNoUserKey, 502, "TOSS_UNAVAILABLE"},
		{"login-me malformed", tosssim.LoginMe, tosssim.FaultMalformed, 502, "TOSS_UNAVAILABLE"},
		{"login-me fields that fail the tag check", tosssim.LoginMe, tosssim.FaultBadCiphertext, 503, "SERVICE_UNAVAILABLE"},
	}
	// A kept field, so that the tag check runs: with none kept, nothing is decrypted.
	e := start(t, devenv.Options{}, func(c *config.Config) { c.Keep = []string{"name"} })
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			e.stack.Sim.SetFault(c.endpoint, c.fault)
			defer e.stack.Sim.SetFault(c.endpoint, tosssim.FaultNone)
			hash := "fault-" + string(rune('a'+i))
			code, body := e.link(hash, e.code(int64(700+i)))
			want(t, c.name, code, body, c.status, `"`+c.code+`"`)
			if ok, _ := e.store.IsMapped(context.Background(), hash); ok {
				t.Fatal("a failed link wrote a mapping")
			}
		})
	}
}

func TestWarmLinksReuseOneTLSConnection(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, nil)
	e.stack.Sim.ResetCounters()
	for i := range 20 {
		c, b := e.link("warm-"+string(rune('a'+i)), e.code(int64(800+i)))
		want(t, "link", c, b, 200, `"success":true`)
	}
	if n := e.stack.Sim.Handshakes(); n != 1 {
		t.Fatalf("%d TLS handshakes for 20 links, want 1", n)
	}
	if n := e.stack.Sim.Calls(tosssim.GenerateToken) + e.stack.Sim.Calls(tosssim.LoginMe); n != 40 {
		t.Fatalf("%d Toss calls for 20 links, want exactly 40", n)
	}
}

func TestNoCodeTokenSecretOrPersonalDataReachesTheLogs(t *testing.T) {
	t.Parallel()
	e := start(t, devenv.Options{}, func(c *config.Config) { c.Keep = []string{"name"} })
	code := e.code(91)
	e.link("log-hash", code)
	e.link("log-hash-2", code) // reused: invalid_grant
	e.stack.Sim.SetFault(tosssim.LoginMe, tosssim.FaultBadCiphertext)
	e.link("log-hash-3", e.code(92))
	e.stack.Sim.SetFault(tosssim.LoginMe, tosssim.FaultNone)
	e.unlinkGET("91", "local-unlink:WRONG-PASSWORD")
	e.unlinkGET("91", e.stack.BasicAuth)
	logs := e.logs.String()
	if !strings.Contains(logs, `"route":"link"`) {
		t.Fatalf("the flow logged nothing: %s", logs)
	}
	forbidden := []string{code, "홍길동", "19930324", "01012345678", "CI-VALUE-SENTINEL", "WRONG-PASSWORD",
		e.stack.BasicAuth, e.stack.AAD, e.stack.Doc.DecryptionKey, "PRIVATE KEY", "accessToken", "Bearer"}
	forbidden = append(forbidden, e.stack.Sim.IssuedTokens()...)
	for _, s := range forbidden {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("logs contain %q", s)
		}
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if err := json.Unmarshal([]byte(l), &line); err != nil {
			t.Errorf("log line is not JSON: %s", l)
		}
	}
}
