// Package toss is a client of the Toss partner API (mTLS): it exchanges an authorization code,
// reads the user (login-me), decrypts the profile fields asked for, optionally checks a game
// hash, and optionally removes the user's Toss login. It tolerates the documented variations of
// Toss's answers and classifies every failure as apperr.ErrInvalidCode (the code is spent or
// expired), apperr.ErrNotConfigured (our client certificate refused, or none valid: ours to
// fix) or apperr.ErrTossUnavailable (anything else).
package toss

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
)

// DefaultBaseURL is Toss's production partner API.
const DefaultBaseURL = "https://apps-in-toss-api.toss.im"

// Paths of the partner API, relative to the base URL.
const (
	PathGenerateToken = "/api-partner/v1/apps-in-toss/user/oauth2/generate-token"
	PathLoginMe       = "/api-partner/v1/apps-in-toss/user/oauth2/login-me"
	PathVerifyHash    = "/api-partner/v1/apps-in-toss/users/anon-key/verify"
	PathRemoveAccess  = "/api-partner/v1/apps-in-toss/user/oauth2/access/remove-by-access-token"
)

// Names of the calls, as Call reports them.
const (
	CallGenerateToken = "generate-token"
	CallLoginMe       = "login-me"
	CallVerifyHash    = "verify-hash"
	CallRemoveAccess  = "remove-access"
)

// Call is one request to Toss, for metrics: which, how long, and how it ended (a Class).
type Call struct {
	Name     string
	Duration time.Duration
	Class    string
}

// CallTimeout caps one call to Toss even when the caller's deadline is further away, so a hung
// connection cannot eat the whole invocation.
const CallTimeout = 5 * time.Second

// maxBody bounds what is read of an answer: login-me is well under 4 KiB.
const maxBody = 1 << 20

// Client talks to the partner API with one mTLS identity. It keeps its connections between calls
// (and between invocations of a warm container): reuse it.
type Client struct {
	base string
	hc   *http.Client
	// observe, when set, hears of every call (Partner sets it).
	observe func(context.Context, Call)
}

// NewClient returns a client presenting cert. roots nil means the system roots (production);
// tests and the local run pass the simulator's CA.
func NewClient(baseURL string, cert tls.Certificate, roots *x509.CertPool) *Client {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 3 * time.Second,
		// HTTP/1.1 only. With TLS 1.3 a server refuses a client certificate after the client
		// thinks the handshake done; over HTTP/1.1 that alert comes back as the request's error,
		// whereas the HTTP/2 transport replaces it with "client conn could not be established",
		// and a refused certificate would pass for Toss being down. The calls of one link are
		// sequential, so HTTP/2's multiplexing buys nothing; keep-alive reuse stays.
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		MaxIdleConnsPerHost: 4,
		// Shorter than typical server keep-alive, so a thawed container rarely reuses a connection
		// the server has already closed.
		IdleConnTimeout: 50 * time.Second,
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), hc: &http.Client{Transport: tr}}
}

// CloseIdle drops pooled connections (used when the identity rotates).
func (c *Client) CloseIdle() { c.hc.CloseIdleConnections() }

// report tells the observer how the call that began at start ended.
func (c *Client) report(ctx context.Context, name string, start time.Time, err error) {
	if c.observe != nil {
		c.observe(ctx, Call{Name: name, Duration: time.Since(start), Class: Class(err)})
	}
}

// Token is generate-token's answer.
type Token struct {
	TokenType    string
	AccessToken  string
	RefreshToken string
	ExpiresIn    int64
	Scope        []string
}

// GenerateToken exchanges a single-use authorization code. It never retries: a second attempt with
// the same code cannot succeed, and may hide the first attempt's answer.
func (c *Client) GenerateToken(ctx context.Context, code, referrer string) (_ Token, err error) {
	start := time.Now()
	defer func() { c.report(ctx, CallGenerateToken, start, err) }()
	body, _ := json.Marshal(struct {
		AuthorizationCode string `json:"authorizationCode"`
		Referrer          string `json:"referrer"`
	}{code, referrer})
	var s struct {
		TokenType    string   `json:"tokenType"`
		AccessToken  string   `json:"accessToken"`
		RefreshToken string   `json:"refreshToken"`
		ExpiresIn    flexInt  `json:"expiresIn"`
		Scope        flexList `json:"scope"`
	}
	if err := c.call(ctx, http.MethodPost, PathGenerateToken, body, nil, &s); err != nil {
		return Token{}, fmt.Errorf("generate-token: %w", err)
	}
	if s.AccessToken == "" {
		return Token{}, fmt.Errorf("generate-token: %w: answer has no accessToken", apperr.ErrTossUnavailable)
	}
	return Token{TokenType: s.TokenType, AccessToken: s.AccessToken, RefreshToken: s.RefreshToken,
		ExpiresIn: int64(s.ExpiresIn), Scope: s.Scope}, nil
}

// EncryptedFields are login-me's encrypted profile fields, in the order Toss documents them.
var EncryptedFields = []string{"name", "phone", "birthday", "ci", "gender", "nationality", "email"}

// Me is login-me's answer. Fields holds the encrypted values that were not null.
type Me struct {
	UserKey     int64
	Scope       []string
	AgreedTerms []string
	Fields      map[string]string
}

// LoginMe reads the user behind an access token.
func (c *Client) LoginMe(ctx context.Context, accessToken string) (_ Me, err error) {
	start := time.Now()
	defer func() { c.report(ctx, CallLoginMe, start, err) }()
	var s struct {
		UserKey     json.Number `json:"userKey"`
		Scope       flexList    `json:"scope"`
		AgreedTerms []string    `json:"agreedTerms"`
		Name        *string     `json:"name"`
		Phone       *string     `json:"phone"`
		Birthday    *string     `json:"birthday"`
		CI          *string     `json:"ci"`
		Gender      *string     `json:"gender"`
		Nationality *string     `json:"nationality"`
		Email       *string     `json:"email"`
	}
	hdr := http.Header{"Authorization": {"Bearer " + accessToken}}
	if err := c.call(ctx, http.MethodGet, PathLoginMe, nil, hdr, &s); err != nil {
		return Me{}, fmt.Errorf("login-me: %w", err)
	}
	uk, perr := parseUserKey(string(s.UserKey))
	if perr != nil {
		return Me{}, fmt.Errorf("login-me: %w: %v", apperr.ErrTossUnavailable, perr)
	}
	me := Me{UserKey: uk, Scope: s.Scope, AgreedTerms: s.AgreedTerms, Fields: map[string]string{}}
	for name, v := range map[string]*string{"name": s.Name, "phone": s.Phone, "birthday": s.Birthday,
		"ci": s.CI, "gender": s.Gender, "nationality": s.Nationality, "email": s.Email} {
		if v != nil && *v != "" {
			me.Fields[name] = *v
		}
	}
	return me, nil
}

// parseUserKey accepts the userKey as a JSON number (documented) or a string of digits.
func parseUserKey(s string) (int64, error) {
	s = strings.Trim(s, `"`)
	if s == "" {
		return 0, errors.New("answer has no userKey")
	}
	uk, err := strconv.ParseInt(s, 10, 64)
	if err != nil || uk < 0 {
		return 0, errors.New("answer has a userKey that is not a non-negative integer")
	}
	return uk, nil
}

// VerifyHash asks Toss whether hash belongs to a real user of this mini-app (contract §3, optional).
//
// The verdict "not recognised" is exactly Toss's documented one: a FAIL envelope with errorCode
// 4010, at HTTP 200 or 401. Any other 401 (a gateway's page, a bare error, another errorCode) is
// not a verdict about the hash but a failure of the call: refusing the player over it would turn
// an outage, or a problem with our credentials, into "your game account is not real".
func (c *Client) VerifyHash(ctx context.Context, hash string) (_ bool, err error) {
	start := time.Now()
	defer func() { c.report(ctx, CallVerifyHash, start, err) }()
	var ok flexBool
	err = c.call(ctx, http.MethodPost, PathVerifyHash, nil, http.Header{"x-anon-key": {hash}}, &ok)
	if IsHashVerdict(err) {
		return false, nil
	}
	if errors.Is(err, apperr.ErrInvalidCode) {
		// invalid_grant here is about the hash check, not the player's code: it must not tell
		// the client to log in again.
		return false, fmt.Errorf("anon-key/verify: %w", &FailError{Code: "invalid_grant", Reason: "unexpected invalid_grant"})
	}
	if err != nil {
		return false, fmt.Errorf("anon-key/verify: %w", err)
	}
	return bool(ok), nil
}

// IsHashVerdict reports whether err is anon-key/verify's documented "not a user's hash".
func IsHashVerdict(err error) bool {
	var fail *FailError
	return errors.As(err, &fail) && fail.Code == "4010" &&
		(fail.Status == http.StatusOK || fail.Status == http.StatusUnauthorized)
}

// RemoveAccess ends the Toss login behind accessToken (remove-by-access-token, contract §7):
// afterwards the mini-app's getIsTossLoginIntegratedService() answers false. Its answer's shape
// is undocumented: any 2xx that is a SUCCESS envelope, or empty, counts as done.
func (c *Client) RemoveAccess(ctx context.Context, accessToken string) (err error) {
	start := time.Now()
	defer func() { c.report(ctx, CallRemoveAccess, start, err) }()
	var payload json.RawMessage
	hdr := http.Header{"Authorization": {"Bearer " + accessToken}}
	if err := c.call(ctx, http.MethodPost, PathRemoveAccess, nil, hdr, &payload); err != nil {
		var fail *FailError
		if errors.As(err, &fail) && fail.Code == codeEmpty && fail.Status/100 == 2 {
			return nil
		}
		return fmt.Errorf("remove-by-access-token: %w", err)
	}
	return nil
}

// FailError is a FAIL envelope or an error status from Toss. It is classified as
// apperr.ErrTossUnavailable; Code and Reason are Toss's words, safe to log.
type FailError struct {
	Status int
	Code   string
	Reason string
}

func (e *FailError) Error() string {
	return fmt.Sprintf("toss answered HTTP %d %s %s", e.Status, e.Code, e.Reason)
}

func (e *FailError) Unwrap() error { return apperr.ErrTossUnavailable }

// call performs one request and decodes the success payload of the envelope into out. The
// answer is judged by its body, since Toss does not document the statuses of its failures.
func (c *Client) call(ctx context.Context, method, path string, body []byte, hdr http.Header, out any) error {
	ctx, cancel := context.WithTimeout(ctx, CallTimeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return fmt.Errorf("%w: %v", apperr.ErrTossUnavailable, err)
	}
	for k, vs := range hdr {
		req.Header[http.CanonicalHeaderKey(k)] = vs
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if alert, ok := clientCertificateAlert(err); ok {
			return &CertificateRejectedError{Alert: alert}
		}
		// The URL is ours and carries no secret; the error says timeout, refused or TLS.
		return fmt.Errorf("%w: %w", apperr.ErrTossUnavailable, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%w: reading answer: %w", apperr.ErrTossUnavailable, err)
	}
	return decodeEnvelope(resp.StatusCode, raw, out)
}

// decodeEnvelope reads {"resultType":"SUCCESS","success":...}, {"resultType":"FAIL","error":{...}}
// and the OAuth endpoints' bare {"error":"invalid_grant"}.
func decodeEnvelope(status int, raw []byte, out any) error {
	var env struct {
		ResultType string          `json:"resultType"`
		Success    json.RawMessage `json:"success"`
		Error      json.RawMessage `json:"error"`
	}
	if len(bytes.TrimSpace(raw)) == 0 {
		return &FailError{Status: status, Code: codeEmpty, Reason: "empty answer"}
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return &FailError{Status: status, Code: codeMalformed, Reason: "answer is not a JSON object"}
	}
	if len(env.Error) > 0 && env.Error[0] == '"' {
		var code string
		_ = json.Unmarshal(env.Error, &code)
		if code == "invalid_grant" {
			return fmt.Errorf("%w (HTTP %d)", apperr.ErrInvalidCode, status)
		}
		return &FailError{Status: status, Code: truncate(code, 64)}
	}
	switch env.ResultType {
	case "SUCCESS":
		if len(env.Success) == 0 || string(env.Success) == "null" {
			return &FailError{Status: status, Code: codeMalformed, Reason: "SUCCESS without a payload"}
		}
		if err := json.Unmarshal(env.Success, out); err != nil {
			return &FailError{Status: status, Code: codeMalformed, Reason: "payload has unexpected types"}
		}
		return nil
	case "FAIL":
		var e struct {
			ErrorCode flexString `json:"errorCode"`
			Reason    string     `json:"reason"`
		}
		_ = json.Unmarshal(env.Error, &e)
		if e.ErrorCode == "invalid_grant" {
			return fmt.Errorf("%w (HTTP %d)", apperr.ErrInvalidCode, status)
		}
		return &FailError{Status: status, Code: truncate(string(e.ErrorCode), 64), Reason: truncate(e.Reason, 200)}
	default:
		return &FailError{Status: status, Code: codeMalformed, Reason: "no resultType"}
	}
}

// Codes of FailErrors the client makes up for answers that carry none.
const (
	codeMalformed = "MALFORMED_ANSWER"
	codeEmpty     = "EMPTY_ANSWER"
)

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// flexInt accepts a JSON number or a string of digits (expiresIn comes as either). Anything else
// reads as 0: the product does not use expiresIn, so its shape must not fail a login.
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	n, err := strconv.ParseInt(strings.TrimSpace(strings.Trim(string(b), `"`)), 10, 64)
	if err != nil || n < 0 {
		n = 0
	}
	*f = flexInt(n)
	return nil
}

// flexList splits a scope string on spaces and commas, whichever Toss used this time.
type flexList []string

func (f *flexList) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var list []string
		if err2 := json.Unmarshal(b, &list); err2 != nil {
			return err
		}
		*f = list
		return nil
	}
	*f = strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	return nil
}

// flexBool accepts true or "true".
type flexBool bool

func (f *flexBool) UnmarshalJSON(b []byte) error {
	*f = flexBool(strings.Trim(string(b), `"`) == "true")
	return nil
}

// flexString accepts a string or a number (errorCode "4010" may come as either).
type flexString string

func (f *flexString) UnmarshalJSON(b []byte) error {
	*f = flexString(strings.Trim(string(b), `"`))
	return nil
}
