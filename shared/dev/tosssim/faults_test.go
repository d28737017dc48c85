package tosssim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

func assertNotJSON(t *testing.T, r result) {
	t.Helper()
	if len(r.body) == 0 || json.Valid(r.body) {
		t.Fatalf("body %q: want non-empty, invalid JSON", r.body)
	}
}

func TestEachFaultDoesWhatItSays(t *testing.T) {
	t.Parallel()
	// A hung request is sent through the embedded handler (see hang): status 0 is nothing written.
	hungUntilTheClientGaveUp := func(t *testing.T, _ *env, r result) {
		if r.status != 0 {
			t.Fatalf("the hung request answered %d; want nothing until the client gave up", r.status)
		}
	}
	badGateway := func(t *testing.T, _ *env, r result) {
		if r.err != nil || r.status != http.StatusBadGateway || !strings.HasPrefix(r.ctype, "text/html") {
			t.Fatalf("answer = %v (%v), want 502 text/html", r, r.err)
		}
		assertNotJSON(t, r)
	}
	failWith := func(code string) func(*testing.T, *env, result) {
		return func(t *testing.T, _ *env, r result) { assertFail(t, r, http.StatusOK, code) }
	}
	truncated := func(t *testing.T, _ *env, r result) {
		if r.err != nil || r.status != http.StatusOK {
			t.Fatalf("answer = %v (%v), want 200", r, r.err)
		}
		assertNotJSON(t, r)
		if !strings.HasPrefix(string(r.body), `{"`) {
			t.Errorf("body %q does not look like the start of the real answer", r.body)
		}
	}
	noUserKey := func(t *testing.T, _ *env, r result) {
		a, fields := decodeLoginMe(t, r)
		if _, ok := fields["userKey"]; ok {
			t.Errorf("userKey present: %s", r.body)
		}
		if plain, err := decrypt(testKey(), testAAD, a.Name); err != nil || plain != alice.Name {
			t.Errorf("name decrypts to %q (%v), want the rest of the answer intact", plain, err)
		}
	}
	badCiphertext := func(t *testing.T, _ *env, r result) {
		a, _ := decodeLoginMe(t, r)
		if string(a.UserKey) != "443731104" {
			t.Errorf("userKey = %s, want it intact", a.UserKey)
		}
		for _, f := range []string{a.Name, a.Phone, a.Birthday, a.CI, a.Gender, a.Nationality, *a.Email} {
			if plain, err := decrypt(testKey(), testAAD, f); err == nil {
				t.Errorf("field decrypts to %q with the configured key, want a tag failure", plain)
			}
		}
	}

	tests := []struct {
		name     string
		endpoint tosssim.Endpoint
		fault    tosssim.Fault
		check    func(t *testing.T, e *env, r result)
	}{
		{"a timeout on generate-token hangs until the client gives up", tosssim.GenerateToken, tosssim.FaultTimeout, hungUntilTheClientGaveUp},
		{"a 5xx on generate-token is a gateway's HTML page", tosssim.GenerateToken, tosssim.Fault5xx, badGateway},
		{"a FAIL envelope on generate-token is INTERNAL_ERROR", tosssim.GenerateToken, tosssim.FaultFailEnvelope, failWith("INTERNAL_ERROR")},
		{"a malformed generate-token answer is truncated JSON", tosssim.GenerateToken, tosssim.FaultMalformed, truncated},
		{"USER_KEY_NOT_FOUND on generate-token is a FAIL envelope", tosssim.GenerateToken, tosssim.FaultUserKeyNotFound, failWith("USER_KEY_NOT_FOUND")},
		{"a timeout on login-me hangs until the client gives up", tosssim.LoginMe, tosssim.FaultTimeout, hungUntilTheClientGaveUp},
		{"a 5xx on login-me is a gateway's HTML page", tosssim.LoginMe, tosssim.Fault5xx, badGateway},
		{"a FAIL envelope on login-me is INTERNAL_ERROR", tosssim.LoginMe, tosssim.FaultFailEnvelope, failWith("INTERNAL_ERROR")},
		{"a malformed login-me answer is truncated JSON", tosssim.LoginMe, tosssim.FaultMalformed, truncated},
		{"login-me without userKey keeps the other fields", tosssim.LoginMe, tosssim.FaultNoUserKey, noUserKey},
		{"login-me with bad ciphertext fails every tag check", tosssim.LoginMe, tosssim.FaultBadCiphertext, badCiphertext},
		{"USER_KEY_NOT_FOUND on login-me is a FAIL envelope", tosssim.LoginMe, tosssim.FaultUserKeyNotFound, failWith("USER_KEY_NOT_FOUND")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			code := e.sim.Authorize(alice, "DEFAULT")
			var token string
			if tt.endpoint == tosssim.LoginMe {
				token = e.mustToken(t, code, "DEFAULT")
			}
			e.sim.SetFault(tt.endpoint, tt.fault)

			method, path, header, body := http.MethodGet, tosssim.PathLoginMe, map[string]string{"Authorization": "Bearer " + token}, ""
			if tt.endpoint == tosssim.GenerateToken {
				method, path, header, body = http.MethodPost, tosssim.PathGenerateToken, nil, codeBody(code, "DEFAULT")
			}
			var r result
			if tt.fault == tosssim.FaultTimeout {
				r = hang(t, e.sim, tt.endpoint, method, path, header, body)
			} else {
				r = call(t.Context(), e.client, method, e.sim.APIURL()+path, header, body)
			}
			tt.check(t, e, r)

			e.sim.SetFault(tt.endpoint, tosssim.FaultNone)
			if tt.endpoint == tosssim.GenerateToken {
				// Toss consumed the code before the answer was lost: a retry cannot succeed.
				assertInvalidGrant(t, e.exchange(t, codeBody(code, "DEFAULT")), http.StatusBadRequest)
			} else {
				if a, _ := decodeLoginMe(t, e.loginMe(t, token)); string(a.UserKey) != "443731104" {
					t.Errorf("after FaultNone, userKey = %s, want 443731104", a.UserKey)
				}
			}
		})
	}
}

// hang sends a request to the simulator's embedded handler, waits until the simulator has
// taken it, gives up as a client does when its deadline passes, and returns once the handler has
// returned, with what it wrote (status 0: nothing). A deadline would make the verdict depend on
// the machine: on a busy one a short deadline passes before the request reaches the handler, and
// the work the fault strikes after has not happened. Here it always has: the handler does its
// work before it hangs, and it has returned.
func hang(t *testing.T, sim *tosssim.Server, ep tosssim.Endpoint, method, path string, header map[string]string, body string) result {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := &recorder{header: http.Header{}}
	done := make(chan any, 1)
	go func() {
		defer func() { done <- recover() }()
		sim.APIHandler().ServeHTTP(w, req)
	}()
	for sim.Calls(ep) == 0 {
		select {
		case p := <-done:
			t.Fatalf("the handler returned (status %d, panic %v) before counting the request", w.status, p)
		case <-time.After(time.Millisecond):
		}
	}
	cancel()
	if p := <-done; p != nil {
		t.Fatalf("the handler panicked with %v when the client gave up", p)
	}
	return result{status: w.status, ctype: w.header.Get("Content-Type")}
}

func TestAFaultOnOneEndpointLeavesTheOthersAlone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sim.SetFault(tosssim.LoginMe, tosssim.Fault5xx)
	e.sim.SetFault(tosssim.VerifyAnonKey, tosssim.FaultFailEnvelope)
	tok := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
	if r := e.loginMe(t, tok); r.status != http.StatusBadGateway {
		t.Fatalf("login-me = %v, want the 502 fault", r)
	}
}

func TestRemoveByUserKeyWithoutUserKeyStillRevokes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
	e.sim.SetFault(tosssim.RemoveByUserKey, tosssim.FaultNoUserKey)
	r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathRemoveByUserKey, nil, `{"userKey":443731104}`)
	if r.err != nil || string(r.body) != `{"resultType":"SUCCESS","success":{}}` {
		t.Fatalf("answer = %v (%v), want SUCCESS without userKey", r, r.err)
	}
	assertInvalidGrant(t, e.loginMe(t, tok), http.StatusUnauthorized)
}

func TestCloseReleasesARequestHungByFaultTimeout(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.sim.SetFault(tosssim.LoginMe, tosssim.FaultTimeout)
	done := make(chan result, 1)
	go func() {
		// No deadline of the test's: only Close (or the client's own timeout) ends this request.
		done <- call(context.Background(), e.client, http.MethodGet, e.sim.APIURL()+tosssim.PathLoginMe, nil, "")
	}()
	for e.sim.Calls(tosssim.LoginMe) == 0 {
		select {
		case r := <-done:
			t.Fatalf("the request ended (%v, %v) before it reached the handler", r, r.err)
		case <-time.After(time.Millisecond):
		}
	}
	e.sim.Close()
	r := <-done
	var ne net.Error
	switch {
	case r.err == nil:
		t.Fatalf("hung request answered %v, want a broken connection", r)
	case errors.As(r.err, &ne) && ne.Timeout():
		t.Fatalf("Close did not release the hung request: the client's own timeout ended it (%v)", r.err)
	}
}

func TestFaultTimeoutThroughAnEmbeddedHandlerEndsWithTheRequestOrClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		release   func(sim *tosssim.Server, cancel context.CancelFunc)
		wantAbort bool // net/http's ErrAbortHandler: drop the connection, answer nothing
	}{
		{"the request context ending returns quietly", func(_ *tosssim.Server, cancel context.CancelFunc) { cancel() }, false},
		{"Close aborts the request", func(sim *tosssim.Server, _ context.CancelFunc) { sim.Close() }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sim, err := tosssim.New(tosssim.Config{Key: testKey(), AAD: testAAD})
			if err != nil {
				t.Fatal(err)
			}
			defer sim.Close()
			sim.SetFault(tosssim.LoginMe, tosssim.FaultTimeout)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, tosssim.PathLoginMe, nil)
			w := &recorder{header: http.Header{}}
			go func() {
				for sim.Calls(tosssim.LoginMe) == 0 {
					time.Sleep(time.Millisecond)
				}
				tt.release(sim, cancel)
			}()
			var aborted any
			func() {
				defer func() { aborted = recover() }()
				sim.APIHandler().ServeHTTP(w, req)
			}()
			if (aborted == http.ErrAbortHandler) != tt.wantAbort || (aborted != nil && aborted != http.ErrAbortHandler) {
				t.Fatalf("handler panicked with %v, want abort=%v", aborted, tt.wantAbort)
			}
			if w.status != 0 {
				t.Fatalf("hung handler wrote status %d, want nothing", w.status)
			}
		})
	}
}

// recorder is the least of an http.ResponseWriter; httptest would do, but this keeps the
// assertion on "nothing written" explicit.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { r.WriteHeader(200); return len(b), nil }
func (r *recorder) WriteHeader(s int)           { r.status = s }
