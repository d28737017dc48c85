package tosssim_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

func (e *env) removeAccess(t *testing.T, token string) result {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathRemoveByAccessToken, h, "")
	if r.err != nil {
		t.Fatalf("remove-by-access-token: %v", r.err)
	}
	return r
}

// integrated asks the sandbox what getIsTossLoginIntegratedService() would answer.
func (e *env) integrated(t *testing.T, userKey string) (int, string) {
	t.Helper()
	r := call(context.Background(), http.DefaultClient, http.MethodGet, e.sim.SandboxURL()+tosssim.PathSandboxIntegrated+"?userKey="+userKey, nil, "")
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.status, string(r.body)
}

func TestRemoveByAccessTokenEndsTheTossLoginAndNeedsALiveToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	if st, body := e.integrated(t, "443731104"); st != 200 || body != `{"userKey":443731104,"integrated":false}` {
		t.Fatalf("before any login: %d %s", st, body)
	}
	token := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
	if !e.sim.Integrated(alice.UserKey) {
		t.Fatal("an exchanged code did not integrate the user")
	}
	if st, body := e.integrated(t, "443731104"); st != 200 || body != `{"userKey":443731104,"integrated":true}` {
		t.Fatalf("after the login: %d %s", st, body)
	}
	// A second login of the same user keeps it integrated, and is revoked with the first.
	other := e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")

	r := e.removeAccess(t, token)
	if env := decodeEnvelope(t, r); r.status != 200 || env.ResultType != "SUCCESS" || string(env.Success) != `{"userKey":443731104}` {
		t.Fatalf("remove: %v", r)
	}
	if e.sim.Integrated(alice.UserKey) {
		t.Error("still integrated after remove-by-access-token")
	}
	if st, body := e.integrated(t, "443731104"); body != `{"userKey":443731104,"integrated":false}` {
		t.Errorf("the sandbox's view after the removal: %d %s", st, body)
	}
	assertInvalidGrant(t, e.loginMe(t, token), http.StatusUnauthorized)
	assertInvalidGrant(t, e.loginMe(t, other), http.StatusUnauthorized)
	assertInvalidGrant(t, e.removeAccess(t, token), http.StatusUnauthorized)
	assertInvalidGrant(t, e.removeAccess(t, ""), http.StatusUnauthorized)

	// An expired token is not live either.
	token = e.mustToken(t, e.sim.Authorize(alice, "DEFAULT"), "DEFAULT")
	e.clock.Advance(tosssim.DefaultTokenTTL)
	assertInvalidGrant(t, e.removeAccess(t, token), http.StatusUnauthorized)
	if !e.sim.Integrated(alice.UserKey) {
		t.Error("a refused removal disconnected the user")
	}
	if n := e.sim.Calls(tosssim.RemoveByAccessToken); n != 4 {
		t.Errorf("Calls(RemoveByAccessToken) = %d, want 4", n)
	}

	// Without a client certificate the request never arrives.
	e.sim.ResetCounters()
	bare := e.clientWith(t, nil, true)
	if r := call(context.Background(), bare, http.MethodPost, e.sim.APIURL()+tosssim.PathRemoveByAccessToken, nil, ""); r.err == nil {
		t.Errorf("without mTLS: %v", r)
	}
	if n := e.sim.Calls(tosssim.RemoveByAccessToken); n != 0 {
		t.Errorf("a request without mTLS reached the endpoint")
	}

	for _, q := range []string{"", "x", "-1", "1.5"} {
		if st, _ := e.integrated(t, q); st != http.StatusBadRequest {
			t.Errorf("integrated?userKey=%s: %d, want 400", q, st)
		}
	}
}

func TestTheHashVerdictComesAt200Or401AndAGateways401IsNone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	statuses := map[int]bool{}
	for range 4 {
		r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathVerifyAnonKey, map[string]string{"x-anon-key": "unknown"}, "")
		assertFail(t, r, r.status, "4010")
		statuses[r.status] = true
	}
	if !statuses[200] || !statuses[401] {
		t.Errorf("verdict statuses %v, want both 200 and 401", statuses)
	}
	e.sim.SetFault(tosssim.VerifyAnonKey, tosssim.FaultUnauthorized)
	r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathVerifyAnonKey, map[string]string{"x-anon-key": "unknown"}, "")
	var env map[string]any
	if r.status != 401 || json.Unmarshal(r.body, &env) != nil || env["resultType"] != nil {
		t.Errorf("FaultUnauthorized: %v, want a 401 without an envelope", r)
	}
}

// handshakeAlert makes one request with certPEM/keyPEM and returns the error text.
func handshakeAlert(t *testing.T, e *env, certPEM, keyPEM []byte) string {
	t.Helper()
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool(), Certificates: []tls.Certificate{pair}}}
	defer tr.CloseIdleConnections()
	r := call(context.Background(), &http.Client{Transport: tr, Timeout: 10 * time.Second}, http.MethodGet, e.sim.APIURL()+tosssim.PathLoginMe, nil, "")
	if r.err == nil {
		t.Fatalf("the request succeeded: %v", r)
	}
	return r.err.Error()
}

func TestARefusedClientCertificateGetsTheAlertTossWouldSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	other, err := devcert.NewCA("not registered")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	good, goodKey, _ := e.ca.Issue("partner", nil, true)
	expired, expiredKey, _ := e.ca.IssueValid("partner", nil, true, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	foreign, foreignKey, _ := other.Issue("partner", nil, true)

	// The simulator names its CA in the handshake, so Go's client withholds a certificate of
	// another CA, and the server answers certificate_required; a client that sends it anyway
	// gets unknown_ca. Both are refusals of our certificate.
	if msg := handshakeAlert(t, e, foreign, foreignKey); !strings.Contains(msg, "tls: certificate required") &&
		!strings.Contains(msg, "tls: unknown certificate authority") {
		t.Errorf("a certificate of another CA: %s, want certificate_required or unknown_ca", msg)
	}
	if !strings.Contains(handshakeAlert(t, e, expired, expiredKey), "tls: expired certificate") {
		t.Error("an expired certificate: want certificate_expired")
	}
	if err := e.sim.Revoke(good); err != nil {
		t.Fatal(err)
	}
	if msg := handshakeAlert(t, e, good, goodKey); !strings.Contains(msg, "tls: bad certificate") {
		t.Errorf("a revoked certificate: %s, want bad_certificate", msg)
	}
	if n := e.sim.Calls(tosssim.LoginMe); n != 0 {
		t.Errorf("%d refused requests reached login-me", n)
	}
}

func TestPresentedCountsHandshakesByClientCertificate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	a, aKey, _ := e.ca.Issue("a", nil, true)
	b, _, _ := e.ca.Issue("b", nil, true)
	pair, _ := tls.X509KeyPair(a, aKey)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: e.ca.Pool(), Certificates: []tls.Certificate{pair}}}
	defer tr.CloseIdleConnections()
	for range 3 {
		r := call(context.Background(), &http.Client{Transport: tr}, http.MethodGet, e.sim.APIURL()+tosssim.PathLoginMe, nil, "")
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if e.sim.Presented(a) != 1 || e.sim.Presented(b) != 0 {
		t.Errorf("Presented: a %d, b %d; want 1 (one reused connection) and 0", e.sim.Presented(a), e.sim.Presented(b))
	}
}
