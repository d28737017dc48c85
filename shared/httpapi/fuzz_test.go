package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
)

var discardLog = slog.New(slog.DiscardHandler)

// Fuzz targets for everything an outsider reaches through the three routes: the request body
// (raw or base64, any content type) of status and link, and the unlink callback's method, query,
// body and Authorization header. The domain fakes always succeed, so every answer that is not a
// 200 is the handler refusing the client's input, and must say so in the contract's words.
//
//	go test -run '^$' -fuzz '^FuzzStatusBody$' -fuzztime 20s ./shared/httpapi/

// contractCodes is contract §6: every error code with its one status.
var contractCodes = map[string]int{
	"INVALID_REQUEST":            400,
	"INVALID_AUTHORIZATION_CODE": 400,
	"UNAUTHORIZED":               401,
	"METHOD_NOT_ALLOWED":         405,
	"HASH_ALREADY_LINKED":        409,
	"USER_ALREADY_LINKED":        409,
	"PAYLOAD_TOO_LARGE":          413,
	"TOSS_UNAVAILABLE":           502,
	"SERVICE_UNAVAILABLE":        503,
	"INTERNAL_ERROR":             500,
}

// fuzzEvents reads the repository's API Gateway v2 event fixtures (events/*.json).
func fuzzEvents(f *testing.F) []events.APIGatewayV2HTTPRequest {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no event fixtures in ../../events: %v", err)
	}
	var out []events.APIGatewayV2HTTPRequest
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		var ev events.APIGatewayV2HTTPRequest
		if err := json.Unmarshal(raw, &ev); err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		out = append(out, ev)
	}
	return out
}

// fuzzDomain is the fake domain: it records what it was asked and always succeeds.
type fuzzDomain struct {
	mu                   sync.Mutex
	calls                int
	hash, code, referrer string
	userKey              int64
}

func (d *fuzzDomain) Status(_ context.Context, hash string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.hash = hash
	return false, nil
}

func (d *fuzzDomain) Link(_ context.Context, hash, code, referrer string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.hash, d.code, d.referrer = hash, code, referrer
	return nil
}

func (d *fuzzDomain) Unlink(_ context.Context, key int64, _ string) (bool, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls++
	d.userKey = key
	return true, nil
}

// checkContractAnswer asserts what holds for every answer: no Go error, a status from allowed,
// JSON, and for a failure exactly {"error":{"code":C,"message":M}} with C the contract's code for
// that status and M a non-empty text.
func checkContractAnswer(t *testing.T, resp events.APIGatewayV2HTTPResponse, err error, allowed ...int) {
	t.Helper()
	if err != nil {
		t.Fatalf("handler returned a Go error %v; every outcome must be a response", err)
	}
	ok := false
	for _, s := range allowed {
		ok = ok || resp.StatusCode == s
	}
	if !ok {
		t.Fatalf("status %d, want one of %v (body %s)", resp.StatusCode, allowed, resp.Body)
	}
	if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, want JSON", ct)
	}
	if !utf8.ValidString(resp.Body) || !json.Valid([]byte(resp.Body)) {
		t.Fatalf("body is not valid JSON: %q", resp.Body)
	}
	if resp.StatusCode == http.StatusOK {
		return
	}
	var b struct {
		Error *struct {
			Code    *string `json:"code"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil || b.Error == nil || b.Error.Code == nil || b.Error.Message == nil {
		t.Fatalf("status %d: body %s is not {\"error\":{\"code\",\"message\"}} (%v)", resp.StatusCode, resp.Body, err)
	}
	if want, known := contractCodes[*b.Error.Code]; !known || want != resp.StatusCode {
		t.Fatalf("status %d with code %q: not the contract's pair", resp.StatusCode, *b.Error.Code)
	}
	if strings.TrimSpace(*b.Error.Message) == "" {
		t.Fatalf("status %d: empty message", resp.StatusCode)
	}
}

// checkField asserts what the handler may hand the domain for a string field: its length, valid
// UTF-8, no character that is invisible or moves other text (README: "no control or invisible
// format characters"), and, when not empty, at least one character that shows.
func checkField(t *testing.T, name, v string, min, max int) {
	t.Helper()
	if len(v) < min || len(v) > max {
		t.Fatalf("domain got %s of %d bytes, want %d..%d", name, len(v), min, max)
	}
	if !utf8.ValidString(v) {
		t.Fatalf("domain got %s that is not valid UTF-8: %q", name, v)
	}
	shows := v == ""
	for _, r := range v {
		if unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Noncharacter_Code_Point,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) ||
			r == utf8.RuneError || r == '\u2800' {
			t.Fatalf("domain got %s with the character %U: %q", name, r, v)
		}
		shows = shows || unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
	}
	if !shows {
		t.Fatalf("domain got %s with no visible character: %+q", name, v)
	}
}

// sentField is an independent reading of what the client sent for field: the raw body is
// decoded on its own, and the value of the key that is exactly field is returned. found is false
// when there is none. The test fails when several keys fold to field (as encoding/json folds
// keys onto struct fields), since then two parsers can read two different requests from one body.
func sentField(t *testing.T, raw []byte, field string) (val json.RawMessage, found bool) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("the handler accepted a body that is not a JSON object: %q", raw)
	}
	n := 0
	for k, v := range m {
		if strings.EqualFold(k, field) {
			n++
		}
		if k == field {
			val, found = v, true
		}
	}
	if n > 1 {
		t.Fatalf("the handler accepted a body with %d keys that all read as %q: %q", n, field, raw)
	}
	return val, found
}

// rawBody is what the request carries after the optional base64 layer, as the test reads it.
func rawBody(t *testing.T, req events.APIGatewayV2HTTPRequest) []byte {
	t.Helper()
	if !req.IsBase64Encoded {
		return []byte(req.Body)
	}
	raw, err := base64.StdEncoding.DecodeString(req.Body)
	if err != nil {
		t.Fatalf("the handler accepted a body marked base64 that is not: %q", req.Body)
	}
	return raw
}

func stringField(t *testing.T, raw []byte, field string) (string, bool) {
	t.Helper()
	v, found := sentField(t, raw, field)
	if !found {
		return "", false
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		t.Fatalf("the handler accepted %s that is not a string: %s", field, v)
	}
	return s, true
}

func bodyRequest(body string, b64 bool, contentType string) events.APIGatewayV2HTTPRequest {
	req := events.APIGatewayV2HTTPRequest{Version: "2.0", Headers: map[string]string{}, Body: body, IsBase64Encoded: b64}
	if contentType != "" {
		req.Headers["content-type"] = contentType
	}
	req.RequestContext.HTTP.Method = http.MethodPost
	return req
}

// addBodySeeds adds the event fixtures' bodies and hand-picked edge cases.
func addBodySeeds(f *testing.F) {
	for _, ev := range fuzzEvents(f) {
		f.Add(ev.Body, ev.IsBase64Encoded, ev.Headers["content-type"])
	}
	const ct = "application/json"
	for _, b := range []string{
		`{"hash":"abc"}`,
		`{"hash":"abc","authorizationCode":"code-1","referrer":"sandbox"}`,
		`{"hash":"abc","authorizationCode":"code-1"}`,
		`{"hash":"abc","authorizationCode":"code-1","referrer":null}`,
		`{"hash":"a\u0000b","authorizationCode":"c"}`,
		`{"hash":"a\ud800b","authorizationCode":"c"}`,
		`{"hash":"a\u202eb","authorizationCode":"c"}`,
		"{\"hash\":\"a\xffb\",\"authorizationCode\":\"c\"}",
		`{"hash":"a","hash":"b","authorizationCode":"c"}`,
		`{"hash":"a","HASH":"b","authorizationCode":"c"}`,
		`{"HASH":"b","authorizationCode":"c"}`,
		`{"hash":"a","haſh":"b","authorizationCode":"c"}`,
		`{"haſh":"b","authorizationCode":"c"}`,
		`{"Hash":"b","AuthorizationCode":"c","Referrer":"r"}`,
		`{"hash":"\u3164","authorizationCode":"c"}`,
		`{"hash":"\u115f\u1160","authorizationCode":"c"}`,
		`{"hash":"\u2800","authorizationCode":"c"}`,
		`{"hash":"\u00a0 \t\u3000","authorizationCode":"c"}`,
		`{"hash":"\u2000\u200a\ufeff\u180e\u2060","authorizationCode":"c"}`,
		`{"hash":"a\u3164b","authorizationCode":"c"}`,
		`{"hash":"a b","authorizationCode":" c ","referrer":"\u3000"}`,
		`{"hash":"\u2764\ufe0f","authorizationCode":"c"}`,
		`{"hash":"a","authorizationCode":"c"} {}`,
		`{"hash":"` + strings.Repeat("h", MaxHashLen) + `","authorizationCode":"` + strings.Repeat("c", MaxCodeLen) + `"}`,
		`{"hash":"` + strings.Repeat("h", MaxHashLen+1) + `","authorizationCode":"c"}`,
		`{"hash":"` + strings.Repeat("h", DefaultMaxBody) + `"}`,
		`{"hash":123}`, `{"hash":null}`, `[{"hash":"a"}]`, `null`, ``, ` `, `{`, `"hash"`,
		`{"hash":"홍길동","authorizationCode":"코드","referrer":"DEFAULT"}`,
	} {
		f.Add(b, false, ct)
		f.Add(base64.StdEncoding.EncodeToString([]byte(b)), true, ct)
	}
	f.Add(`{"hash":"abc"}`, false, "")
	f.Add(`{"hash":"abc"}`, false, "application/json; charset=utf-8")
	f.Add(`{"hash":"abc"}`, false, "Application/JSON ; charset=\"utf-8\"")
	f.Add(`{"hash":"abc"}`, false, "application/x-www-form-urlencoded")
	f.Add(`{"hash":"abc"}`, false, "text/plain; charset=")
	f.Add(`***`, true, ct)
	f.Add(`eyJoYXNoIjoiYSJ9`, true, ct) // unpadded base64
	f.Add(base64.StdEncoding.EncodeToString(make([]byte, 2*DefaultMaxBody)), true, ct)
}

func FuzzStatusBody(f *testing.F) {
	addBodySeeds(f)
	opt := Options{Log: discardLog}
	f.Fuzz(func(t *testing.T, body string, b64 bool, contentType string) {
		d := &fuzzDomain{}
		req := bodyRequest(body, b64, contentType)
		resp, err := Status(d, opt)(context.Background(), req)
		checkContractAnswer(t, resp, err, 200, 400, 405, 413)
		if resp.StatusCode != http.StatusOK {
			if d.calls != 0 {
				t.Fatalf("status %d, yet the domain was called", resp.StatusCode)
			}
			return
		}
		if resp.Body != `{"isMapped":false}` {
			t.Fatalf("200 with body %s", resp.Body)
		}
		if d.calls != 1 {
			t.Fatalf("200 after %d calls of the domain, want 1", d.calls)
		}
		checkField(t, "hash", d.hash, 1, MaxHashLen)
		raw := rawBody(t, req)
		if len(raw) > DefaultMaxBody {
			t.Fatalf("200 for a body of %d bytes", len(raw))
		}
		if hash, _ := stringField(t, raw, "hash"); hash != d.hash {
			t.Fatalf("domain got hash %q, the body says %q", d.hash, hash)
		}
	})
}

func FuzzLinkBody(f *testing.F) {
	addBodySeeds(f)
	opt := Options{Log: discardLog}
	f.Fuzz(func(t *testing.T, body string, b64 bool, contentType string) {
		d := &fuzzDomain{}
		req := bodyRequest(body, b64, contentType)
		resp, err := Link(d, opt)(context.Background(), req)
		checkContractAnswer(t, resp, err, 200, 400, 405, 413)
		if resp.StatusCode != http.StatusOK {
			if d.calls != 0 {
				t.Fatalf("status %d, yet the domain was called", resp.StatusCode)
			}
			return
		}
		if resp.Body != `{"success":true}` {
			t.Fatalf("200 with body %s", resp.Body)
		}
		if d.calls != 1 {
			t.Fatalf("200 after %d calls of the domain, want 1", d.calls)
		}
		checkField(t, "hash", d.hash, 1, MaxHashLen)
		checkField(t, "authorizationCode", d.code, 1, MaxCodeLen)
		checkField(t, "referrer", d.referrer, 0, MaxReferrerLen)
		raw := rawBody(t, req)
		if len(raw) > DefaultMaxBody {
			t.Fatalf("200 for a body of %d bytes", len(raw))
		}
		for _, fv := range []struct{ name, got string }{
			{"hash", d.hash}, {"authorizationCode", d.code}, {"referrer", d.referrer},
		} {
			if sent, _ := stringField(t, raw, fv.name); sent != fv.got {
				t.Fatalf("domain got %s %q, the body says %q", fv.name, fv.got, sent)
			}
		}
	})
}

// fuzzUnlinkValue is the Basic Auth value the fake secret holds (the events' local value).
const fuzzUnlinkValue = "local-unlink:local-secret"

// sentUserKey is an independent reading of the userKey the callback carried, as decimal text.
func sentUserKey(t *testing.T, req events.APIGatewayV2HTTPRequest) string {
	t.Helper()
	if req.RequestContext.HTTP.Method == http.MethodGet {
		// Split the query by hand: userKey must occur once, and its value unescape cleanly.
		var vals []string
		for _, kv := range strings.Split(req.RawQueryString, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if uk, err := queryUnescape(k); err == nil && uk == "userKey" {
				uv, err := queryUnescape(v)
				if err != nil {
					t.Fatalf("the callback accepted a userKey that does not unescape: %q", req.RawQueryString)
				}
				vals = append(vals, uv)
			}
		}
		if len(vals) != 1 {
			t.Fatalf("the callback accepted a query with %d userKeys: %q", len(vals), req.RawQueryString)
		}
		return vals[0]
	}
	raw := rawBody(t, req)
	if len(raw) > DefaultMaxBody {
		t.Fatalf("the callback accepted a body of %d bytes", len(raw))
	}
	v, found := sentField(t, raw, "userKey")
	if !found {
		t.Fatalf("the callback accepted a body without userKey: %q", raw)
	}
	s := string(bytes.TrimSpace(v))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(v, &s); err != nil {
			t.Fatalf("bad string %s", v)
		}
	}
	return s
}

// queryUnescape is application/x-www-form-urlencoded decoding written out: "+" is a space and
// "%XX" a byte; anything else after a "%" is an error.
func queryUnescape(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '+':
			b.WriteByte(' ')
		case c == '%':
			if i+2 >= len(s) {
				return "", strconv.ErrSyntax
			}
			n, err := strconv.ParseUint(s[i+1:i+3], 16, 8)
			if err != nil {
				return "", strconv.ErrSyntax
			}
			b.WriteByte(byte(n))
			i += 2
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func FuzzUnlinkCallback(f *testing.F) {
	for _, ev := range fuzzEvents(f) {
		if !strings.Contains(ev.RouteKey, "unlink") {
			continue
		}
		f.Add(ev.RequestContext.HTTP.Method == http.MethodPost, ev.RawQueryString, ev.Body, ev.IsBase64Encoded, ev.Headers["authorization"])
	}
	good := "Basic " + base64.StdEncoding.EncodeToString([]byte(fuzzUnlinkValue))
	for _, s := range []struct {
		post        bool
		query, body string
		auth        string
	}{
		{false, "userKey=443731103&referrer=UNLINK", "", good},
		{false, "userKey=443731103", "", "basic " + base64.StdEncoding.EncodeToString([]byte(fuzzUnlinkValue))},
		{false, "userKey=443731103", "", "BASIC " + base64.StdEncoding.EncodeToString([]byte(fuzzUnlinkValue))},
		{false, "userKey=9007199254740993", "", good},
		{false, "userKey=9223372036854775807", "", good},
		{false, "userKey=9223372036854775808", "", good},
		{false, "userKey=0007", "", good},
		{false, "userKey=-1", "", good},
		{false, "userKey=%2B1", "", good},
		{false, "userKey=1&userKey=2", "", good},
		{false, "userKey=%zz", "", good},
		{false, "userKey=1;userKey=2", "", good},
		{false, "user%4Bey=5", "", good},
		{false, "userKey=5", "", "Basic " + base64.StdEncoding.EncodeToString([]byte(fuzzUnlinkValue+"\n"))},
		{false, "userKey=5", "", "Basic  " + base64.StdEncoding.EncodeToString([]byte(fuzzUnlinkValue))},
		{false, "userKey=5", "", "Bearer " + base64.StdEncoding.EncodeToString([]byte(fuzzUnlinkValue))},
		{false, "userKey=5", "", "Basic " + fuzzUnlinkValue},
		// Found by this target: the same value in a non-canonical Base64 (non-zero padding bits),
		// and with a line break inside (the decoder skips CR and LF).
		{false, "userKey=0", "", "BAsiC bG9jYWwtdW5saW5rOmxvY2FsLXNlY3JldB=="},
		{false, "userKey=0", "", "Basic bG9jYWwtdW5saW5rOmxv\r\nY2FsLXNlY3JldA=="},
		{false, "userKey=5", "", ""},
		{true, "", `{"userKey":443731103,"referrer":"WITHDRAWAL_TERMS"}`, good},
		{true, "", `{"userKey":"443731103","referrer":"WITHDRAWAL_TOSS"}`, good},
		{true, "", `{"userKey":9007199254740993}`, good},
		{true, "", `{"userKey":1e3}`, good},
		{true, "", `{"userKey":-0}`, good},
		{true, "", `{"userKey":"\u0031"}`, good},
		{true, "", `{"userKey":1,"userKey":2}`, good},
		{true, "", `{"userKey":1,"USERKEY":2}`, good},
		{true, "", `{"USERKEY":2}`, good},
		{true, "", "{\"userKey\":1,\"user\u212aey\":2}", good},
		{true, "", `{"userKey":null}`, good},
		{true, "", `{"userKey":7,"referrer":5}`, good},
		{true, "userKey=5", `{}`, good},
	} {
		f.Add(s.post, s.query, s.body, false, s.auth)
	}
	f.Add(true, "", base64.StdEncoding.EncodeToString([]byte(`{"userKey":5}`)), true, good)

	opt := Options{Log: discardLog}
	src := func(context.Context, bool) ([]string, error) { return []string{fuzzUnlinkValue}, nil }
	f.Fuzz(func(t *testing.T, post bool, query, body string, b64 bool, auth string) {
		d := &fuzzDomain{}
		req := events.APIGatewayV2HTTPRequest{Version: "2.0", RawQueryString: query, Body: body, IsBase64Encoded: b64,
			Headers: map[string]string{"content-type": "application/json"}}
		if auth != "" {
			req.Headers["authorization"] = auth
		}
		req.RequestContext.HTTP.Method = http.MethodGet
		if post {
			req.RequestContext.HTTP.Method = http.MethodPost
		}
		resp, err := Unlink(d, src, opt)(context.Background(), req)
		checkContractAnswer(t, resp, err, 200, 400, 401, 405, 413, 503)

		// The only credential: "Basic" in any case, one space, the canonical Base64 of the value.
		scheme, cred, _ := strings.Cut(auth, " ")
		authentic := strings.EqualFold(scheme, "Basic") && cred == base64.StdEncoding.EncodeToString([]byte(fuzzUnlinkValue))
		if !authentic && resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("Authorization %q is not the configured value, yet status %d", auth, resp.StatusCode)
		}
		if resp.StatusCode != http.StatusOK {
			if d.calls != 0 {
				t.Fatalf("status %d, yet the unlinker was called", resp.StatusCode)
			}
			return
		}
		if resp.Body != `{"success":true}` {
			t.Fatalf("200 with body %s", resp.Body)
		}
		if d.calls != 1 {
			t.Fatalf("200 after %d calls of the unlinker, want 1", d.calls)
		}
		sent := sentUserKey(t, req)
		if sent == "" || len(sent) > 19 || strings.Trim(sent, "0123456789") != "" {
			t.Fatalf("unlinked %d for the userKey %q, which is not decimal digits", d.userKey, sent)
		}
		if n, err := strconv.ParseInt(sent, 10, 64); err != nil || n != d.userKey || d.userKey < 0 {
			t.Fatalf("unlinked %d for the userKey %q", d.userKey, sent)
		}
	})
}
