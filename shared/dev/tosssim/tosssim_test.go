package tosssim_test

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

// loginMeAnswer is login-me's success with userKey kept as raw JSON, to check its type.
type loginMeAnswer struct {
	UserKey     json.RawMessage  `json:"userKey"`
	Scope       string           `json:"scope"`
	AgreedTerms []string         `json:"agreedTerms"`
	Name        string           `json:"name"`
	Phone       string           `json:"phone"`
	Birthday    string           `json:"birthday"`
	CI          string           `json:"ci"`
	Gender      string           `json:"gender"`
	Nationality string           `json:"nationality"`
	Email       *string          `json:"email"`
	DI          *json.RawMessage `json:"di"`
	Policy      *string          `json:"policy"`
	CertTxID    *string          `json:"certTxId"`
}

func decodeLoginMe(t *testing.T, r result) (loginMeAnswer, map[string]json.RawMessage) {
	t.Helper()
	env := decodeEnvelope(t, r)
	if r.status != http.StatusOK || env.ResultType != "SUCCESS" {
		t.Fatalf("login-me = %v, want SUCCESS", r)
	}
	var a loginMeAnswer
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(env.Success, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(env.Success, &fields); err != nil {
		t.Fatal(err)
	}
	return a, fields
}

var scopeSplit = regexp.MustCompile(`[,\s]+`)

func TestAnMTLSClientExchangesACodeAndReadsTheDecryptedProfile(t *testing.T) {
	t.Parallel()
	noEmail := alice
	noEmail.UserKey, noEmail.Email = 443731105, nil

	tests := []struct {
		name string
		user tosssim.User
	}{
		{"a user with an e-mail", alice},
		{"a user without an e-mail gets a null email", noEmail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			code := e.sim.Authorize(tt.user, "DEFAULT")

			r := e.exchange(t, codeBody(code, "DEFAULT"))
			var tok struct {
				TokenType, AccessToken, RefreshToken, Scope string
				ExpiresIn                                   json.RawMessage
			}
			if err := json.Unmarshal(decodeEnvelope(t, r).Success, &tok); err != nil {
				t.Fatal(err)
			}
			if r.status != http.StatusOK || tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken == "" || len(tok.ExpiresIn) == 0 {
				t.Fatalf("generate-token = %v", r)
			}

			a, fields := decodeLoginMe(t, e.loginMe(t, tok.AccessToken))
			want := map[string]string{"userKey": "443731104"}
			if tt.user.UserKey != alice.UserKey {
				want["userKey"] = "443731105"
			}
			if string(a.UserKey) != want["userKey"] {
				t.Errorf("userKey = %s, want the JSON number %s", a.UserKey, want["userKey"])
			}
			if string(fields["di"]) != "null" {
				t.Errorf("di = %s, want null", fields["di"])
			}
			if len(a.AgreedTerms) == 0 {
				t.Errorf("agreedTerms = %v, want some", a.AgreedTerms)
			}
			if !containsScope(a.Scope, "user_key") {
				t.Errorf("scope %q lacks user_key", a.Scope)
			}
			for name, got := range map[string]struct{ enc, want string }{
				"name": {a.Name, tt.user.Name}, "phone": {a.Phone, tt.user.Phone},
				"birthday": {a.Birthday, tt.user.Birthday}, "ci": {a.CI, tt.user.CI},
				"gender": {a.Gender, tt.user.Gender}, "nationality": {a.Nationality, tt.user.Nationality},
			} {
				plain, err := decrypt(testKey(), testAAD, got.enc)
				if err != nil || plain != got.want {
					t.Errorf("%s decrypts to %q (%v), want %q", name, plain, err, got.want)
				}
			}
			switch {
			case tt.user.Email == nil && string(fields["email"]) != "null":
				t.Errorf("email = %s, want null", fields["email"])
			case tt.user.Email != nil:
				if a.Email == nil {
					t.Fatalf("email is null, want %q", *tt.user.Email)
				}
				if plain, err := decrypt(testKey(), testAAD, *a.Email); err != nil || plain != *tt.user.Email {
					t.Errorf("email decrypts to %q (%v), want %q", plain, err, *tt.user.Email)
				}
			}
			if _, err := decrypt(testKey(), "OTHER_AAD", a.Name); err == nil {
				t.Error("name decrypts with the wrong AAD, want a tag failure")
			}
		})
	}
}

func containsScope(scope, want string) bool {
	for _, s := range scopeSplit.Split(scope, -1) {
		if s == want {
			return true
		}
	}
	return false
}

func TestTheHandshakeFailsWithoutAClientCertFromTheTrustedCA(t *testing.T) {
	t.Parallel()
	other, err := devcert.NewCA("another CA")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		issuer func(e *env) *devcert.CA
		client bool
	}{
		{"no client certificate", func(*env) *devcert.CA { return nil }, true},
		{"a client certificate from another CA", func(*env) *devcert.CA { return other }, true},
		{"a server-only certificate from the trusted CA", func(e *env) *devcert.CA { return e.ca }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			c := e.clientWith(t, tt.issuer(e), tt.client)
			r := call(context.Background(), c, http.MethodGet, e.sim.APIURL()+tosssim.PathLoginMe, nil, "")
			if r.err == nil {
				t.Fatalf("request succeeded with %v, want a handshake failure", r)
			}
			if n := e.sim.Calls(tosssim.LoginMe); n != 0 {
				t.Errorf("Calls(LoginMe) = %d, want 0: the request must not reach the handler", n)
			}
			if n := e.sim.Handshakes(); n != 0 {
				t.Errorf("Handshakes() = %d, want 0", n)
			}
		})
	}
}

func TestGenerateTokenFailsTheWayTossDoes(t *testing.T) {
	t.Parallel()
	const (
		success        = "SUCCESS"
		invalidGrant   = "invalid_grant"
		invalidRequest = "INVALID_REQUEST"
	)
	tests := []struct {
		name string
		// setup mints what it needs and returns the request body.
		setup func(t *testing.T, e *env) string
		want  string
	}{
		{"a fresh code with its referrer succeeds", func(t *testing.T, e *env) string {
			return codeBody(e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
		}, success},
		{"an unknown code is invalid_grant", func(t *testing.T, e *env) string {
			return codeBody("no-such-code", "DEFAULT")
		}, invalidGrant},
		{"a code is single use", func(t *testing.T, e *env) string {
			code := e.sim.Authorize(alice, "DEFAULT")
			e.mustToken(t, code, "DEFAULT")
			return codeBody(code, "DEFAULT")
		}, invalidGrant},
		{"a code one second before its expiry still works", func(t *testing.T, e *env) string {
			code := e.sim.Authorize(alice, "DEFAULT")
			e.clock.Advance(tosssim.DefaultCodeTTL - time.Second)
			return codeBody(code, "DEFAULT")
		}, success},
		{"an expired code is invalid_grant", func(t *testing.T, e *env) string {
			code := e.sim.Authorize(alice, "DEFAULT")
			e.clock.Advance(tosssim.DefaultCodeTTL)
			return codeBody(code, "DEFAULT")
		}, invalidGrant},
		{"a re-cased referrer is invalid_grant", func(t *testing.T, e *env) string {
			return codeBody(e.sim.Authorize(alice, "sandbox"), "SANDBOX")
		}, invalidGrant},
		{"a referrer mismatch spends the code", func(t *testing.T, e *env) string {
			code := e.sim.Authorize(alice, "sandbox")
			assertInvalidGrant(t, e.exchange(t, codeBody(code, "DEFAULT")), http.StatusBadRequest)
			return codeBody(code, "sandbox")
		}, invalidGrant},
		{"a missing referrer means DEFAULT", func(t *testing.T, e *env) string {
			return `{"authorizationCode":"` + e.sim.Authorize(alice, "DEFAULT") + `"}`
		}, success},
		{"a missing referrer does not match SANDBOX", func(t *testing.T, e *env) string {
			return `{"authorizationCode":"` + e.sim.Authorize(alice, "SANDBOX") + `"}`
		}, invalidGrant},
		{"a body that is not JSON is INVALID_REQUEST", func(t *testing.T, e *env) string {
			return "authorizationCode=abc"
		}, invalidRequest},
		{"a missing code is INVALID_REQUEST", func(t *testing.T, e *env) string {
			return `{"referrer":"DEFAULT"}`
		}, invalidRequest},
		{"a code that is not a string is INVALID_REQUEST", func(t *testing.T, e *env) string {
			return `{"authorizationCode":123,"referrer":"DEFAULT"}`
		}, invalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := e.exchange(t, tt.setup(t, e))
			switch tt.want {
			case invalidGrant:
				assertInvalidGrant(t, r, http.StatusBadRequest)
			case invalidRequest:
				assertFail(t, r, http.StatusBadRequest, invalidRequest)
			default:
				if env := decodeEnvelope(t, r); r.status != http.StatusOK || env.ResultType != success {
					t.Fatalf("answer = %v, want SUCCESS", r)
				}
			}
		})
	}
}

func TestLoginMeFailsTheWayTossDoes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup returns the token to present.
		setup      func(t *testing.T, e *env) string
		wantStatus int
		wantCode   string // "" means bare invalid_grant, "SUCCESS" a success
	}{
		{"no Authorization header is invalid_grant", func(t *testing.T, e *env) string {
			return ""
		}, http.StatusUnauthorized, ""},
		{"an unknown token is invalid_grant", func(t *testing.T, e *env) string {
			return "not-a-token"
		}, http.StatusUnauthorized, ""},
		{"a token one second before its expiry still works", func(t *testing.T, e *env) string {
			tok := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
			e.clock.Advance(tosssim.DefaultTokenTTL - time.Second)
			return tok
		}, http.StatusOK, "SUCCESS"},
		{"an expired token is invalid_grant", func(t *testing.T, e *env) string {
			tok := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
			e.clock.Advance(tosssim.DefaultTokenTTL)
			return tok
		}, http.StatusUnauthorized, ""},
		{"a token revoked by remove-by-user-key is invalid_grant", func(t *testing.T, e *env) string {
			tok := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
			r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathRemoveByUserKey, nil, `{"userKey":443731104}`)
			if r.err != nil || r.status != http.StatusOK {
				t.Fatalf("remove-by-user-key = %v (%v)", r, r.err)
			}
			return tok
		}, http.StatusUnauthorized, ""},
		{"a user who left Toss is USER_NOT_FOUND", func(t *testing.T, e *env) string {
			tok := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
			e.sim.RemoveUser(alice.UserKey)
			return tok
		}, http.StatusOK, "USER_NOT_FOUND"},
		{"a removed user who logs in again is found again", func(t *testing.T, e *env) string {
			e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
			e.sim.RemoveUser(alice.UserKey)
			return e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
		}, http.StatusOK, "SUCCESS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := e.loginMe(t, tt.setup(t, e))
			switch tt.wantCode {
			case "":
				assertInvalidGrant(t, r, tt.wantStatus)
			case "SUCCESS":
				decodeLoginMe(t, r)
			default:
				assertFail(t, r, tt.wantStatus, tt.wantCode)
			}
		})
	}
}

func TestAnswersVaryInShapeSoClientsMustBeTolerant(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	expiresKinds := map[string]bool{}
	scopes := map[string]bool{}
	var token string
	for range 6 {
		r := e.exchange(t, codeBody(e.sim.Authorize(alice, "DEFAULT"), "DEFAULT"))
		var tok struct {
			AccessToken string
			Scope       string
			ExpiresIn   json.RawMessage
		}
		json.Unmarshal(decodeEnvelope(t, r).Success, &tok)
		token = tok.AccessToken
		scopes[tok.Scope] = true
		switch string(tok.ExpiresIn) {
		case `3599`:
			expiresKinds["number"] = true
		case `"3599"`:
			expiresKinds["string"] = true
		default:
			t.Errorf("expiresIn = %s, want 3599 as a number or a string", tok.ExpiresIn)
		}
		if !containsScope(tok.Scope, "user_key") {
			t.Errorf("scope %q lacks user_key", tok.Scope)
		}
	}
	if len(expiresKinds) != 2 {
		t.Errorf("expiresIn kinds = %v, want both number and string", expiresKinds)
	}
	if len(scopes) != 3 {
		t.Errorf("generate-token scopes = %v, want three separator styles", scopes)
	}

	legacy := map[bool]bool{}
	loginScopes := map[string]bool{}
	for range 3 {
		a, _ := decodeLoginMe(t, e.loginMe(t, token))
		legacy[a.Policy != nil && a.CertTxID != nil] = true
		loginScopes[a.Scope] = true
	}
	if len(legacy) != 2 {
		t.Errorf("legacy policy/certTxId presence = %v, want both present and absent", legacy)
	}
	if len(loginScopes) != 3 {
		t.Errorf("login-me scopes = %v, want three separator styles", loginScopes)
	}
}

func TestRemoveByUserKeyAnswersTheKeyAndRejectsBadBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		body     string
		wantCode string // "" means success echoing userKey 443731103
	}{
		{"a numeric userKey is echoed", `{"userKey":443731103}`, ""},
		{"a userKey as a string is INVALID_REQUEST", `{"userKey":"443731103"}`, "INVALID_REQUEST"},
		{"a missing userKey is INVALID_REQUEST", `{}`, "INVALID_REQUEST"},
		{"a zero userKey is INVALID_REQUEST", `{"userKey":0}`, "INVALID_REQUEST"},
		{"a body that is not JSON is INVALID_REQUEST", `userKey=1`, "INVALID_REQUEST"},
	}
	e := newEnv(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathRemoveByUserKey, nil, tt.body)
			if r.err != nil {
				t.Fatal(r.err)
			}
			if tt.wantCode != "" {
				assertFail(t, r, http.StatusBadRequest, tt.wantCode)
				return
			}
			if r.status != http.StatusOK || string(r.body) != `{"resultType":"SUCCESS","success":{"userKey":443731103}}` {
				t.Fatalf("answer = %v", r)
			}
		})
	}
}

func TestVerifyAnonKeyAcceptsOnlyRegisteredHashes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sim.RegisterHash("Hash-ABC")
	tests := []struct {
		name   string
		header map[string]string
		wantOK bool
	}{
		{"a registered hash is true", map[string]string{"x-anon-key": "Hash-ABC"}, true},
		{"a re-cased hash is 4010", map[string]string{"x-anon-key": "hash-abc"}, false},
		{"an unknown hash is 4010", map[string]string{"x-anon-key": "nope"}, false},
		{"a missing header is 4010", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathVerifyAnonKey, tt.header, "")
			if r.err != nil {
				t.Fatal(r.err)
			}
			if !tt.wantOK {
				// The verdict alternates between 200 and 401 (contract §3 allows both).
				status := http.StatusOK
				if r.status == http.StatusUnauthorized {
					status = http.StatusUnauthorized
				}
				assertFail(t, r, status, "4010")
				return
			}
			if r.status != http.StatusOK || string(r.body) != `{"resultType":"SUCCESS","success":"true"}` {
				t.Fatalf("answer = %v", r)
			}
		})
	}
}

func TestUnknownPathsAndWrongMethodsGetFailEnvelopes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name       string
		method     string
		path       string
		wantStatus int
		wantCode   string
	}{
		{"an unknown path is 404", http.MethodGet, "/api-partner/v1/apps-in-toss/user/oauth2/nope", http.StatusNotFound, "NOT_FOUND"},
		{"the root is 404", http.MethodGet, "/", http.StatusNotFound, "NOT_FOUND"},
		{"GET generate-token is 405", http.MethodGet, tosssim.PathGenerateToken, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
		{"POST login-me is 405", http.MethodPost, tosssim.PathLoginMe, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := call(context.Background(), e.client, tt.method, e.sim.APIURL()+tt.path, nil, "")
			if r.err != nil {
				t.Fatal(r.err)
			}
			assertFail(t, r, tt.wantStatus, tt.wantCode)
		})
	}
}

func TestCountersShowCallsAndConnectionReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
	e.loginMe(t, tok)
	e.loginMe(t, tok)

	check := func(stage string, gen, me, hs int) {
		t.Helper()
		if g, m, h := e.sim.Calls(tosssim.GenerateToken), e.sim.Calls(tosssim.LoginMe), e.sim.Handshakes(); g != gen || m != me || h != hs {
			t.Errorf("%s: Calls(GenerateToken)=%d Calls(LoginMe)=%d Handshakes()=%d, want %d %d %d", stage, g, m, h, gen, me, hs)
		}
	}
	check("one client, three calls", 1, 2, 1)

	other := e.clientWith(t, e.ca, true)
	if r := call(context.Background(), other, http.MethodGet, e.sim.APIURL()+tosssim.PathLoginMe, map[string]string{"Authorization": "Bearer " + tok}, ""); r.err != nil {
		t.Fatal(r.err)
	}
	check("a second client", 1, 3, 2)

	e.sim.ResetCounters()
	check("after reset", 0, 0, 0)
	e.loginMe(t, tok)
	check("a reused connection after reset", 0, 1, 0)
}

func TestConcurrentExchangesOfOneCodeSucceedOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	code := e.sim.Authorize(alice, "DEFAULT")
	const n = 8
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for range n {
		wg.Go(func() {
			r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathGenerateToken, nil, codeBody(code, "DEFAULT"))
			if r.err != nil {
				t.Error(r.err)
				return
			}
			statuses <- r.status
		})
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == http.StatusOK {
			ok++
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent exchanges succeeded, want exactly 1", ok, n)
	}
	if got := e.sim.Calls(tosssim.GenerateToken); got != n {
		t.Errorf("Calls(GenerateToken) = %d, want %d", got, n)
	}
}

func TestNewRefusesABadConfigAndStartNeedsCertificates(t *testing.T) {
	t.Parallel()
	ca, err := devcert.NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue("tosssim", []string{"127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		cfg          tosssim.Config
		wantNewErr   bool
		wantStartErr bool
	}{
		{"a 16-byte key is refused", tosssim.Config{Key: make([]byte, 16)}, true, false},
		{"a garbage server certificate is refused", tosssim.Config{Key: testKey(), ServerCertPEM: []byte("x"), ServerKeyPEM: []byte("y")}, true, false},
		{"Start without a server certificate fails", tosssim.Config{Key: testKey(), ClientCAs: ca.Pool()}, false, true},
		{"Start without client CAs fails", tosssim.Config{Key: testKey(), ServerCertPEM: certPEM, ServerKeyPEM: keyPEM}, false, true},
		{"a full config starts", tosssim.Config{Key: testKey(), ClientCAs: ca.Pool(), ServerCertPEM: certPEM, ServerKeyPEM: keyPEM}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, err := tosssim.New(tt.cfg)
			if (err != nil) != tt.wantNewErr {
				t.Fatalf("New error = %v, want error=%v", err, tt.wantNewErr)
			}
			if err != nil {
				return
			}
			defer sim.Close()
			err = sim.Start("127.0.0.1:0", "")
			if (err != nil) != tt.wantStartErr {
				t.Fatalf("Start error = %v, want error=%v", err, tt.wantStartErr)
			}
			if err == nil {
				if !strings.HasPrefix(sim.APIURL(), "https://127.0.0.1:") || sim.SandboxURL() != "" {
					t.Errorf("APIURL=%q SandboxURL=%q", sim.APIURL(), sim.SandboxURL())
				}
				if sim.Start("127.0.0.1:0", "") == nil {
					t.Error("a second Start succeeded")
				}
			}
		})
	}
}
