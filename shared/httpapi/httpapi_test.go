package httpapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/apperr"
)

// fakeDomain records calls and answers with err (or mapped).
type fakeDomain struct {
	mu       sync.Mutex
	mapped   bool
	err      error
	calls    int
	gotHash  string
	gotCode  string
	gotRef   string
	gotUser  int64
	unlinked bool
}

func (f *fakeDomain) Status(_ context.Context, hash string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.gotHash = hash
	return f.mapped, f.err
}

func (f *fakeDomain) Link(_ context.Context, hash, code, ref string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.gotHash, f.gotCode, f.gotRef = hash, code, ref
	return f.err
}

func (f *fakeDomain) Unlink(_ context.Context, key int64, ref string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.gotUser, f.gotRef = key, ref
	return f.unlinked, f.err
}

func request(method, body string, headers ...string) events.APIGatewayV2HTTPRequest {
	h := map[string]string{"content-type": "application/json"}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i+1] == "" {
			delete(h, headers[i])
			continue
		}
		h[headers[i]] = headers[i+1]
	}
	r := events.APIGatewayV2HTTPRequest{Version: "2.0", Headers: h, Body: body}
	r.RequestContext.HTTP.Method = method
	return r
}

type answer struct {
	status int
	code   string // contract error code, "" for success
}

func check(t *testing.T, name string, resp events.APIGatewayV2HTTPResponse, err error, want answer) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: handler returned a Go error %v; handled failures must be responses", name, err)
	}
	if resp.StatusCode != want.status {
		t.Errorf("%s: status %d, want %d (body %s)", name, resp.StatusCode, want.status, resp.Body)
	}
	if resp.StatusCode == http.StatusNoContent {
		return
	}
	if ct := resp.Headers["Content-Type"]; !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want JSON", name, ct)
	}
	var body struct {
		Error *struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatalf("%s: body is not JSON: %s", name, resp.Body)
	}
	switch {
	case want.code == "" && body.Error != nil:
		t.Errorf("%s: unexpected error body %s", name, resp.Body)
	case want.code != "" && (body.Error == nil || body.Error.Code != want.code || body.Error.Message == ""):
		t.Errorf("%s: body %s, want error code %s with a message", name, resp.Body, want.code)
	}
}

func opts() Options {
	return Options{Log: slog.New(slog.DiscardHandler)}
}

func TestStatusAnswersTheContractForEveryInput(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", MaxHashLen+1)
	cases := []struct {
		name string
		req  events.APIGatewayV2HTTPRequest
		want answer
		hash string // what the domain must have been asked, "" = not called
	}{
		{"a valid hash is looked up", request("POST", `{"hash":"abc"}`), answer{200, ""}, "abc"},
		{"a hash is case sensitive and kept as sent", request("POST", `{"hash":"AbC+/="}`), answer{200, ""}, "AbC+/="},
		{"unknown fields are ignored", request("POST", `{"hash":"abc","extra":1}`), answer{200, ""}, "abc"},
		{"a charset parameter is fine", request("POST", `{"hash":"abc"}`, "content-type", "application/json; charset=utf-8"), answer{200, ""}, "abc"},
		{"no content type is fine", request("POST", `{"hash":"abc"}`, "content-type", ""), answer{200, ""}, "abc"},
		{"a base64 body from API Gateway is decoded", func() events.APIGatewayV2HTTPRequest {
			r := request("POST", base64.StdEncoding.EncodeToString([]byte(`{"hash":"b64"}`)))
			r.IsBase64Encoded = true
			return r
		}(), answer{200, ""}, "b64"},
		{"an empty body is refused", request("POST", ``), answer{400, "INVALID_REQUEST"}, ""},
		{"non-JSON is refused", request("POST", `hash=abc`), answer{400, "INVALID_REQUEST"}, ""},
		{"JSON null is refused", request("POST", `null`), answer{400, "INVALID_REQUEST"}, ""},
		{"an array is refused", request("POST", `[{"hash":"abc"}]`), answer{400, "INVALID_REQUEST"}, ""},
		{"a number for the hash is refused", request("POST", `{"hash":123}`), answer{400, "INVALID_REQUEST"}, ""},
		{"a null hash is refused", request("POST", `{"hash":null}`), answer{400, "INVALID_REQUEST"}, ""},
		{"a missing hash is refused", request("POST", `{}`), answer{400, "INVALID_REQUEST"}, ""},
		{"an empty hash is refused", request("POST", `{"hash":""}`), answer{400, "INVALID_REQUEST"}, ""},
		{"an oversize hash is refused", request("POST", `{"hash":"`+long+`"}`), answer{400, "INVALID_REQUEST"}, ""},
		{"a control character is refused", request("POST", `{"hash":"a\u0000b"}`), answer{400, "INVALID_REQUEST"}, ""},
		{"a lone surrogate is refused", request("POST", `{"hash":"a\ud800b"}`), answer{400, "INVALID_REQUEST"}, ""},
		{"a bidi override is refused", request("POST", `{"hash":"a\u202eb"}`), answer{400, "INVALID_REQUEST"}, ""},
		{"invalid UTF-8 is refused", request("POST", "{\"hash\":\"a\xffb\"}"), answer{400, "INVALID_REQUEST"}, ""},
		{"duplicate keys are refused", request("POST", `{"hash":"a","hash":"b"}`), answer{400, "INVALID_REQUEST"}, ""},
		{"trailing data is refused", request("POST", `{"hash":"a"} {}`), answer{400, "INVALID_REQUEST"}, ""},
		{"a form body is refused", request("POST", `{"hash":"a"}`, "content-type", "application/x-www-form-urlencoded"), answer{400, "INVALID_REQUEST"}, ""},
		{"bad base64 is refused", func() events.APIGatewayV2HTTPRequest {
			r := request("POST", "***")
			r.IsBase64Encoded = true
			return r
		}(), answer{400, "INVALID_REQUEST"}, ""},
		{"a huge body is 413", request("POST", `{"hash":"`+strings.Repeat("a", DefaultMaxBody)+`"}`), answer{413, "PAYLOAD_TOO_LARGE"}, ""},
		{"a huge base64 body is 413", func() events.APIGatewayV2HTTPRequest {
			r := request("POST", base64.StdEncoding.EncodeToString(make([]byte, 2*DefaultMaxBody)))
			r.IsBase64Encoded = true
			return r
		}(), answer{413, "PAYLOAD_TOO_LARGE"}, ""},
		{"GET is 405", request("GET", ``), answer{405, "METHOD_NOT_ALLOWED"}, ""},
		{"DELETE is 405", request("DELETE", `{"hash":"a"}`), answer{405, "METHOD_NOT_ALLOWED"}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDomain{}
			resp, err := Status(d, opts())(context.Background(), c.req)
			check(t, c.name, resp, err, c.want)
			if c.hash == "" && d.calls != 0 {
				t.Errorf("the domain was called for a bad request")
			}
			if c.hash != "" && d.gotHash != c.hash {
				t.Errorf("domain got hash %q, want %q", d.gotHash, c.hash)
			}
			if c.want.status == 200 && resp.Body != `{"isMapped":false}` {
				t.Errorf("body %s", resp.Body)
			}
		})
	}
}

func TestErrorsMapToTheContractAndHideInternals(t *testing.T) {
	t.Parallel()
	secretish := "arn:aws:dynamodb:xx SECRET-DETAIL"
	for _, c := range []struct {
		err  error
		want answer
	}{
		{fmt.Errorf("x: %w: %s", apperr.ErrUnavailable, secretish), answer{503, "SERVICE_UNAVAILABLE"}},
		{fmt.Errorf("x: %w: %s", apperr.ErrNotConfigured, secretish), answer{503, "SERVICE_UNAVAILABLE"}},
		{fmt.Errorf("x: %w: %s", apperr.ErrTossUnavailable, secretish), answer{502, "TOSS_UNAVAILABLE"}},
		{fmt.Errorf("x: %w: %s", apperr.ErrInvalidCode, secretish), answer{400, "INVALID_AUTHORIZATION_CODE"}},
		{fmt.Errorf("x: %w: %s", apperr.ErrUnlinkedMeanwhile, secretish), answer{400, "INVALID_AUTHORIZATION_CODE"}},
		{fmt.Errorf("x: %w: %s", apperr.ErrHashLinked, secretish), answer{409, "HASH_ALREADY_LINKED"}},
		{fmt.Errorf("x: %w: %s", apperr.ErrUserLinked, secretish), answer{409, "USER_ALREADY_LINKED"}},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), answer{503, "SERVICE_UNAVAILABLE"}},
		{errors.New(secretish), answer{500, "INTERNAL_ERROR"}},
	} {
		d := &fakeDomain{err: c.err}
		resp, err := Link(d, opts())(context.Background(), request("POST", `{"hash":"h","authorizationCode":"c"}`))
		check(t, c.err.Error(), resp, err, c.want)
		if strings.Contains(resp.Body, "SECRET") || strings.Contains(resp.Body, "arn:") {
			t.Errorf("%v: body leaks the internal error: %s", c.err, resp.Body)
		}
	}
}

func TestLinkForwardsTheReferrerExactlyAndValidatesEachField(t *testing.T) {
	t.Parallel()
	d := &fakeDomain{}
	resp, err := Link(d, opts())(context.Background(), request("POST", `{"hash":"h1","authorizationCode":"code-1","referrer":"sandbox"}`))
	check(t, "link", resp, err, answer{200, ""})
	if resp.Body != `{"success":true}` || d.gotHash != "h1" || d.gotCode != "code-1" || d.gotRef != "sandbox" {
		t.Errorf("body %s, domain got %q %q %q", resp.Body, d.gotHash, d.gotCode, d.gotRef)
	}
	for name, body := range map[string]string{
		"a missing code":       `{"hash":"h"}`,
		"an empty code":        `{"hash":"h","authorizationCode":""}`,
		"a numeric code":       `{"hash":"h","authorizationCode":5}`,
		"an oversize code":     `{"hash":"h","authorizationCode":"` + strings.Repeat("c", MaxCodeLen+1) + `"}`,
		"a code with newline":  `{"hash":"h","authorizationCode":"a\nb"}`,
		"a numeric referrer":   `{"hash":"h","authorizationCode":"c","referrer":1}`,
		"an oversize referrer": `{"hash":"h","authorizationCode":"c","referrer":"` + strings.Repeat("r", MaxReferrerLen+1) + `"}`,
		"a missing hash":       `{"authorizationCode":"c"}`,
	} {
		d := &fakeDomain{}
		resp, err := Link(d, opts())(context.Background(), request("POST", body))
		check(t, name, resp, err, answer{400, "INVALID_REQUEST"})
		if d.calls != 0 {
			t.Errorf("%s: the domain was called", name)
		}
	}
}

func basic(v string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(v)) }

func unlinkReq(method, query, body, auth string) events.APIGatewayV2HTTPRequest {
	r := request(method, body, "authorization", auth)
	r.RawQueryString = query
	return r
}

func TestUnlinkLetsOnlyTheExactConfiguredValueIn(t *testing.T) {
	t.Parallel()
	const value = "partner:s3cret"
	q := "userKey=443731103&referrer=UNLINK"
	cases := []struct {
		name       string
		configured string
		sourceErr  error
		auth       string
		want       answer
	}{
		{"the exact value passes", value, nil, basic(value), answer{200, ""}},
		{"the scheme is case-insensitive", value, nil, "basic " + base64.StdEncoding.EncodeToString([]byte(value)), answer{200, ""}},
		{"no header is refused", value, nil, "", answer{401, "UNAUTHORIZED"}},
		{"another scheme is refused", value, nil, "Bearer " + base64.StdEncoding.EncodeToString([]byte(value)), answer{401, "UNAUTHORIZED"}},
		{"a wrong value is refused", value, nil, basic("partner:wrong"), answer{401, "UNAUTHORIZED"}},
		{"a prefix of the value is refused", value, nil, basic("partner:s3cre"), answer{401, "UNAUTHORIZED"}},
		{"a trailing newline is refused", value, nil, basic(value + "\n"), answer{401, "UNAUTHORIZED"}},
		{"extra spaces are refused", value, nil, basic(" " + value + " "), answer{401, "UNAUTHORIZED"}},
		{"the value not base64-encoded is refused", value, nil, "Basic " + value, answer{401, "UNAUTHORIZED"}},
		{"non-base64 is refused", value, nil, "Basic ***", answer{401, "UNAUTHORIZED"}},
		{"an empty credential is refused", value, nil, "Basic ", answer{401, "UNAUTHORIZED"}},
		{"nothing configured refuses everyone", "", nil, basic(""), answer{503, "SERVICE_UNAVAILABLE"}},
		{"nothing configured refuses even a header", "", nil, basic(value), answer{503, "SERVICE_UNAVAILABLE"}},
		{"an unreadable secret refuses everyone", value, apperr.ErrUnavailable, basic(value), answer{503, "SERVICE_UNAVAILABLE"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDomain{}
			src := func(context.Context, bool) ([]string, error) { return []string{c.configured}, c.sourceErr }
			resp, err := Unlink(d, src, opts())(context.Background(), unlinkReq("GET", q, "", c.auth))
			check(t, c.name, resp, err, c.want)
			if c.want.status != 200 && d.calls != 0 {
				t.Errorf("the store was asked to delete on a refused request")
			}
			if c.want.status == 200 && d.gotUser != 443731103 {
				t.Errorf("unlinked %d", d.gotUser)
			}
		})
	}
}

func TestUnlinkReadsTheUserKeyFromQueryOrBody(t *testing.T) {
	t.Parallel()
	const value = "id:pw"
	src := func(context.Context, bool) ([]string, error) { return []string{value}, nil }
	cases := []struct {
		name, method, query, body string
		want                      answer
		key                       int64
	}{
		{"GET with a query", "GET", "userKey=443731103&referrer=UNLINK", "", answer{200, ""}, 443731103},
		{"GET with an unknown referrer", "GET", "userKey=5&referrer=SOMETHING_NEW", "", answer{200, ""}, 5},
		{"GET with no referrer", "GET", "userKey=5", "", answer{200, ""}, 5},
		{"the console test's 0", "GET", "userKey=0&referrer=UNLINK", "", answer{200, ""}, 0},
		{"beyond 2^53 stays exact", "GET", "userKey=9007199254740993", "", answer{200, ""}, 9007199254740993},
		{"POST with a JSON number", "POST", "", `{"userKey":443731103,"referrer":"WITHDRAWAL_TERMS"}`, answer{200, ""}, 443731103},
		{"POST beyond 2^53 stays exact", "POST", "", `{"userKey":9007199254740993,"referrer":"UNLINK"}`, answer{200, ""}, 9007199254740993},
		{"POST with a string of digits", "POST", "", `{"userKey":"0","referrer":"UNLINK"}`, answer{200, ""}, 0},
		{"POST with a non-string referrer still deletes", "POST", "", `{"userKey":7,"referrer":5}`, answer{200, ""}, 7},
		{"GET without userKey", "GET", "referrer=UNLINK", "", answer{400, "INVALID_REQUEST"}, 0},
		{"GET with -1", "GET", "userKey=-1", "", answer{400, "INVALID_REQUEST"}, 0},
		{"GET with 1e3", "GET", "userKey=1e3", "", answer{400, "INVALID_REQUEST"}, 0},
		{"GET with letters", "GET", "userKey=12ab", "", answer{400, "INVALID_REQUEST"}, 0},
		{"GET with two userKeys", "GET", "userKey=1&userKey=2", "", answer{400, "INVALID_REQUEST"}, 0},
		{"GET beyond int64", "GET", "userKey=99999999999999999999", "", answer{400, "INVALID_REQUEST"}, 0},
		{"GET with a malformed query", "GET", "userKey=%zz", "", answer{400, "INVALID_REQUEST"}, 0},
		{"POST with -1", "POST", "", `{"userKey":-1}`, answer{400, "INVALID_REQUEST"}, 0},
		{"POST with 1e3", "POST", "", `{"userKey":1e3}`, answer{400, "INVALID_REQUEST"}, 0},
		{"POST with a fraction", "POST", "", `{"userKey":1.5}`, answer{400, "INVALID_REQUEST"}, 0},
		{"POST with null", "POST", "", `{"userKey":null}`, answer{400, "INVALID_REQUEST"}, 0},
		{"POST with a boolean", "POST", "", `{"userKey":true}`, answer{400, "INVALID_REQUEST"}, 0},
		{"POST with non-digits", "POST", "", `{"userKey":"12ab"}`, answer{400, "INVALID_REQUEST"}, 0},
		{"POST with duplicate userKeys", "POST", "", `{"userKey":1,"userKey":2}`, answer{400, "INVALID_REQUEST"}, 0},
		{"POST that is not JSON", "POST", "", `userKey=1`, answer{400, "INVALID_REQUEST"}, 0},
		{"PUT is 405", "PUT", "userKey=1", "", answer{405, "METHOD_NOT_ALLOWED"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDomain{}
			resp, err := Unlink(d, src, opts())(context.Background(), unlinkReq(c.method, c.query, c.body, basic(value)))
			check(t, c.name, resp, err, c.want)
			if c.want.status == 200 && (d.calls != 1 || d.gotUser != c.key) {
				t.Errorf("unlink called %d times with %d, want once with %d", d.calls, d.gotUser, c.key)
			}
			if c.want.status != 200 && d.calls != 0 {
				t.Errorf("unlink was called for a bad request")
			}
		})
	}
}

// A hung dependency gets the contract's answer before Lambda's deadline: the handler hands the
// domain the invocation's deadline less the margin, and answers when that passes. The invocation
// context here reports a deadline but never ends by itself, so an answer can only come from the
// handler's own margin, and the verdict does not depend on how fast the machine is.
func TestAHandlerAnswersBeforeTheLambdaDeadline(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		margin time.Duration // Options.Margin
		want   time.Duration // what the handler keeps free
	}{
		{"the default margin", 0, DefaultMargin},
		{"a configured margin", 2 * DefaultMargin, 2 * DefaultMargin},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			slow := &slowDomain{}
			o := opts()
			o.Margin = c.margin
			// The derived deadline passes 50 ms after the call; any value works, only the wait changes.
			dl := time.Now().Add(c.want + 50*time.Millisecond)
			// Ten seconds past it, the invocation ends after all, so that a handler without a margin
			// fails this test instead of hanging it.
			backstop, cancel := context.WithDeadline(t.Context(), dl.Add(10*time.Second))
			defer cancel()
			resp, err := Status(slow, o)(deadlineOnly{backstop, dl}, request("POST", `{"hash":"a"}`))
			check(t, "slow store", resp, err, answer{503, "SERVICE_UNAVAILABLE"})
			if !slow.hasDeadline || !slow.deadline.Equal(dl.Add(-c.want)) {
				t.Errorf("the domain's deadline is %v (set: %v), want the invocation's %v less %v", slow.deadline, slow.hasDeadline, dl, c.want)
			}
			if !errors.Is(slow.err, context.DeadlineExceeded) {
				t.Errorf("the domain stopped waiting with %v, want its deadline passed", slow.err)
			}
		})
	}
}

// deadlineOnly is an invocation context that reports Lambda's deadline at but ends only when its
// embedded context does.
type deadlineOnly struct {
	context.Context
	at time.Time
}

func (c deadlineOnly) Deadline() (time.Time, bool) { return c.at, true }

// slowDomain hangs until its context ends, and records the context's deadline and end.
type slowDomain struct {
	deadline    time.Time
	hasDeadline bool
	err         error
}

func (s *slowDomain) Status(ctx context.Context, _ string) (bool, error) {
	s.deadline, s.hasDeadline = ctx.Deadline()
	<-ctx.Done()
	s.err = ctx.Err()
	return false, fmt.Errorf("store: %w: %w", apperr.ErrUnavailable, ctx.Err())
}

func TestLogsCarryNoRequestData(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	o := opts()
	o.Log = slog.New(slog.NewJSONHandler(&buf, nil))
	d := &fakeDomain{err: fmt.Errorf("%w", apperr.ErrInvalidCode)}
	Link(d, o)(context.Background(), request("POST", `{"hash":"HASH-SENTINEL","authorizationCode":"CODE-SENTINEL"}`))
	src := func(context.Context, bool) ([]string, error) { return []string{"USER:PASS-SENTINEL"}, nil }
	Unlink(&fakeDomain{}, src, o)(context.Background(), unlinkReq("GET", "userKey=1", "", basic("USER:WRONG-SENTINEL")))
	if buf.Len() == 0 {
		t.Fatal("nothing was logged")
	}
	for _, s := range []string{"HASH-SENTINEL", "CODE-SENTINEL", "PASS-SENTINEL", "WRONG-SENTINEL"} {
		if strings.Contains(buf.String(), s) {
			t.Errorf("log contains %s: %s", s, buf.String())
		}
	}
}

// The studio hears the referrer with the unlink (contract §7): it reaches the domain as Toss
// sent it, from the query or the body, unknown values included.
func TestUnlinkPassesTossReferrerOnAsSent(t *testing.T) {
	t.Parallel()
	const value = "id:pw"
	src := func(context.Context, bool) ([]string, error) { return []string{value}, nil }
	cases := []struct{ name, method, query, body, want string }{
		{"GET", "GET", "userKey=1&referrer=WITHDRAWAL_TERMS", "", "WITHDRAWAL_TERMS"},
		{"GET with an unknown referrer", "GET", "userKey=1&referrer=Something_New", "", "Something_New"},
		{"GET without one", "GET", "userKey=1", "", ""},
		{"POST", "POST", "", `{"userKey":1,"referrer":"WITHDRAWAL_TOSS"}`, "WITHDRAWAL_TOSS"},
		{"POST with a non-string referrer", "POST", "", `{"userKey":1,"referrer":5}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d := &fakeDomain{}
			resp, err := Unlink(d, src, opts())(context.Background(), unlinkReq(c.method, c.query, c.body, basic(value)))
			check(t, c.name, resp, err, answer{200, ""})
			if d.gotRef != c.want {
				t.Errorf("referrer %q reached the domain, want %q", d.gotRef, c.want)
			}
		})
	}
}

func TestAnUnlinkDuringTheLinkTellsTheClientToLogInAgain(t *testing.T) {
	t.Parallel()
	p := Classify(fmt.Errorf("link: %w", apperr.ErrUnlinkedMeanwhile))
	if p.Status != 400 || p.Code != "INVALID_AUTHORIZATION_CODE" || !strings.Contains(p.Message, "appLogin()") {
		t.Fatalf("%+v, want 400 INVALID_AUTHORIZATION_CODE telling the client to call appLogin() again", p)
	}
}
