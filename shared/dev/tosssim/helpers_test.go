package tosssim_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

const testAAD = "TEST_AAD"

// testKey is the contract's test-vector key: bytes 00..1f.
func testKey() []byte {
	k := make([]byte, 32)
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// clock is an injectable time source, so expiry tests need no sleeps.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// env is one running simulator with a CA and an mTLS client the simulator trusts.
type env struct {
	sim    *tosssim.Server
	ca     *devcert.CA
	client *http.Client
	clock  *clock
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ca, err := devcert.NewCA("tosssim test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.Issue("tosssim", []string{"127.0.0.1", "localhost"}, false)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	sim, err := tosssim.New(tosssim.Config{
		Key:           testKey(),
		AAD:           testAAD,
		ClientCAs:     ca.Pool(),
		ServerCertPEM: srvCert,
		ServerKeyPEM:  srvKey,
		Now:           clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	e := &env{sim: sim, ca: ca, clock: clk}
	e.client = e.clientWith(t, ca, true)
	return e
}

// clientWith builds an HTTPS client trusting the simulator, presenting a certificate from
// issuer (nil: none) for client (true) or server (false) use.
func (e *env) clientWith(t *testing.T, issuer *devcert.CA, client bool) *http.Client {
	t.Helper()
	conf := &tls.Config{RootCAs: e.ca.Pool()}
	if issuer != nil {
		certPEM, keyPEM, err := issuer.Issue("partner", nil, client)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		conf.Certificates = []tls.Certificate{pair}
	}
	tr := &http.Transport{TLSClientConfig: conf}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

type result struct {
	status int
	ctype  string
	body   []byte
	err    error
}

func (r result) String() string {
	return r.ctype + " " + http.StatusText(r.status) + ": " + string(r.body)
}

// call sends one request and reads the whole answer, so the connection can be reused.
func call(ctx context.Context, c *http.Client, method, url string, header map[string]string, body string) result {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return result{err: err}
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b, err: err}
}

func (e *env) exchange(t *testing.T, body string) result {
	t.Helper()
	r := call(context.Background(), e.client, http.MethodPost, e.sim.APIURL()+tosssim.PathGenerateToken, nil, body)
	if r.err != nil {
		t.Fatalf("generate-token: %v", r.err)
	}
	return r
}

func (e *env) loginMe(t *testing.T, token string) result {
	t.Helper()
	h := map[string]string{}
	if token != "" {
		h["Authorization"] = "Bearer " + token
	}
	r := call(context.Background(), e.client, http.MethodGet, e.sim.APIURL()+tosssim.PathLoginMe, h, "")
	if r.err != nil {
		t.Fatalf("login-me: %v", r.err)
	}
	return r
}

func codeBody(code, referrer string) string {
	b, _ := json.Marshal(map[string]string{"authorizationCode": code, "referrer": referrer})
	return string(b)
}

// mustToken exchanges code (minted with referrer) and returns the access token.
func (e *env) mustToken(t *testing.T, code, referrer string) string {
	t.Helper()
	r := e.exchange(t, codeBody(code, referrer))
	env := decodeEnvelope(t, r)
	if r.status != http.StatusOK || env.ResultType != "SUCCESS" {
		t.Fatalf("generate-token = %v, want SUCCESS", r)
	}
	var s struct{ AccessToken string }
	if err := json.Unmarshal(env.Success, &s); err != nil || s.AccessToken == "" {
		t.Fatalf("no accessToken in %s (%v)", env.Success, err)
	}
	return s.AccessToken
}

type envelope struct {
	ResultType string          `json:"resultType"`
	Success    json.RawMessage `json:"success"`
	Error      json.RawMessage `json:"error"`
}

func decodeEnvelope(t *testing.T, r result) envelope {
	t.Helper()
	var env envelope
	if err := json.Unmarshal(r.body, &env); err != nil {
		t.Fatalf("answer is not JSON: %v: %v", err, r)
	}
	return env
}

// assertFail checks a FAIL envelope with errorCode code and a non-empty reason.
func assertFail(t *testing.T, r result, status int, code string) {
	t.Helper()
	env := decodeEnvelope(t, r)
	var e struct{ ErrorCode, Reason string }
	json.Unmarshal(env.Error, &e)
	if r.status != status || env.ResultType != "FAIL" || e.ErrorCode != code || e.Reason == "" {
		t.Fatalf("answer = %v, want %d FAIL %s with a reason", r, status, code)
	}
}

// assertInvalidGrant checks Toss's bare OAuth error, which has no envelope.
func assertInvalidGrant(t *testing.T, r result, status int) {
	t.Helper()
	if r.status != status || string(r.body) != `{"error":"invalid_grant"}` {
		t.Fatalf("answer = %v, want %d bare invalid_grant", r, status)
	}
}

// decrypt is the partner side of contract §3, written independently of tosssim.Encrypt.
func decrypt(key []byte, aad, field string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(field)
	if err != nil {
		return "", err
	}
	if len(raw) < 12+16 {
		return "", errors.New("too short")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", err
	}
	plain, err := gcm.Open(nil, raw[:12], raw[12:], []byte(aad))
	return string(plain), err
}

func ptr[T any](v T) *T { return &v }

var alice = tosssim.User{
	UserKey: 443731104, Name: "홍길동", Phone: "01012345678", Birthday: "19930324",
	CI: "Y2ktb2YtYWxpY2U=", Gender: "MALE", Nationality: "LOCAL", Email: ptr("alice@example.com"),
}
