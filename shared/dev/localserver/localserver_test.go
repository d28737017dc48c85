package localserver

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/httpapi"
)

// echo answers with what API Gateway would have sent the function.
func echo(got *events.APIGatewayV2HTTPRequest) httpapi.Handler {
	return func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		*got = req
		return events.APIGatewayV2HTTPResponse{StatusCode: 201, Headers: map[string]string{"X-Fn": "yes"}, Body: "ok"}, nil
	}
}

func TestRequestsBecomeTheEventsAPIGatewaySends(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	srv := httptest.NewServer(Handler(map[string]httpapi.Handler{"unlink": echo(&got)}, nil))
	defer srv.Close()

	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/auth/toss/unlink?userKey=1&userKey=2&referrer=UNLINK", nil)
	req.Header.Set("Authorization", "Basic abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || string(body) != "ok" || resp.Header.Get("X-Fn") != "yes" {
		t.Fatalf("answer %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if got.Version != "2.0" || got.RequestContext.HTTP.Method != "GET" || got.RawPath != "/api/auth/toss/unlink" ||
		got.RawQueryString != "userKey=1&userKey=2&referrer=UNLINK" || got.QueryStringParameters["userKey"] != "1,2" ||
		got.Headers["authorization"] != "Basic abc" || got.RequestContext.RequestID == "" || got.RouteKey != "GET /api/auth/toss/unlink" {
		t.Fatalf("event %+v", got)
	}

	// A binary body arrives base64-encoded, a JSON one as it is.
	resp, _ = http.Post(srv.URL+"/api/auth/toss/unlink", "application/octet-stream", strings.NewReader("\xff\x00"))
	resp.Body.Close()
	if !got.IsBase64Encoded || got.Body != base64.StdEncoding.EncodeToString([]byte("\xff\x00")) {
		t.Fatalf("binary body: %+v", got)
	}
	resp, _ = http.Post(srv.URL+"/api/auth/toss/unlink", "application/json", strings.NewReader(`{"userKey":1}`))
	resp.Body.Close()
	if got.IsBase64Encoded || got.Body != `{"userKey":1}` {
		t.Fatalf("JSON body: %+v", got)
	}
}

func TestUndeclaredRoutesGetAPIGatewaysNotFound(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	srv := httptest.NewServer(Handler(map[string]httpapi.Handler{"status": echo(&got)}, nil))
	defer srv.Close()
	for _, c := range []struct{ method, path string }{
		{"GET", "/api/auth/migration/status"}, {"POST", "/api/auth/migration/status/"}, {"POST", "/nope"},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 || got.Version != "" {
			t.Errorf("%s %s: %d, function called: %v", c.method, c.path, resp.StatusCode, got.Version != "")
		}
	}
}

// CORS is the gateway's, as template.yaml configures API Gateway: exact origins, preflights
// answered without reaching a function, the function's own CORS headers dropped, and none on
// the callback.
func TestCORSIsTheGatewaysForBrowserRoutesOnly(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	origins, err := ParseOrigins("https://my-game.apps.tossmini.com,https://my-game.private-apps.tossmini.com")
	if err != nil {
		t.Fatal(err)
	}
	fn := func(_ context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		got = req
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Access-Control-Allow-Origin": "*"}, Body: "{}"}, nil
	}
	srv := httptest.NewServer(Handler(map[string]httpapi.Handler{"status": fn, "unlink": fn}, origins))
	defer srv.Close()
	do := func(method, path, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, c := range []struct {
		origin string
		ok     bool
	}{
		{"https://my-game.apps.tossmini.com", true},
		{"https://my-game.private-apps.tossmini.com", true},
		{"https://MY-GAME.apps.tossmini.com", true},
		{"http://my-game.apps.tossmini.com", false},
		{"https://evil.my-game.apps.tossmini.com", false},
		{"https://other.apps.tossmini.com", false},
		{"https://my-game.apps.tossmini.com.evil.com", false},
		{"null", false},
		{"", false},
	} {
		got = events.APIGatewayV2HTTPRequest{}
		pre := do(http.MethodOptions, "/api/auth/migration/status", c.origin)
		if pre.StatusCode != 204 || (pre.Header.Get("Access-Control-Allow-Origin") == c.origin && c.origin != "") != c.ok ||
			(pre.Header.Get("Access-Control-Allow-Methods") != "") != c.ok || got.Version != "" {
			t.Errorf("preflight from %q: %d %v (function called: %v)", c.origin, pre.StatusCode, pre.Header, got.Version != "")
		}
		resp := do(http.MethodPost, "/api/auth/migration/status", c.origin)
		if acao := resp.Header.Get("Access-Control-Allow-Origin"); (acao == c.origin && c.origin != "") != c.ok || (!c.ok && acao != "") {
			t.Errorf("POST from %q: Access-Control-Allow-Origin %q, want allowed=%v", c.origin, acao, c.ok)
		}
	}
	if resp := do(http.MethodOptions, "/api/auth/toss/unlink", "https://my-game.apps.tossmini.com"); resp.StatusCode != 404 {
		t.Errorf("a preflight of the callback answered %d, want API Gateway's 404 (no CORS there)", resp.StatusCode)
	}
}

func TestOriginsMustBeExact(t *testing.T) {
	for _, bad := range []string{"https://*.apps.tossmini.com", "my-game.apps.tossmini.com", "https://a.com/", "https://a.com/path", "ftp://a.com"} {
		if _, err := ParseOrigins(bad); err == nil {
			t.Errorf("ParseOrigins(%q) accepted it", bad)
		}
	}
}

// errReader fails every read, as a connection that breaks mid-body does.
type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// Only a body over API Gateway's limit is 413; a body that cannot be read is the client's broken
// request, 400. Neither reaches the function.
func TestABodyReadErrorIs400AndOnlyAnOversizeBodyIs413(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		body   io.Reader
		status int
		called bool
	}{
		{"a body whose read fails", errReader{}, http.StatusBadRequest, false},
		{"a body that fails after some bytes", io.MultiReader(strings.NewReader(`{"userKey":`), errReader{}), http.StatusBadRequest, false},
		{"a body one byte over the limit", io.LimitReader(zeros{}, maxBody+1), http.StatusRequestEntityTooLarge, false},
		{"a body far over the limit", io.LimitReader(zeros{}, 3*maxBody), http.StatusRequestEntityTooLarge, false},
		{"a body at the limit", io.LimitReader(zeros{}, maxBody), 201, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got events.APIGatewayV2HTTPRequest
			h := Handler(map[string]httpapi.Handler{"unlink": echo(&got)}, nil)
			req := httptest.NewRequest(http.MethodPost, "/api/auth/toss/unlink", c.body)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, req)
			if w.Code != c.status {
				t.Errorf("status %d (%s), want %d", w.Code, w.Body, c.status)
			}
			if called := got.Version != ""; called != c.called {
				t.Errorf("function called: %v, want %v", called, c.called)
			}
		})
	}
}

// Through a real connection: a malformed chunked body fails to read, which is a 400, not a 413.
func TestAMalformedChunkedBodyIs400(t *testing.T) {
	t.Parallel()
	var got events.APIGatewayV2HTTPRequest
	srv := httptest.NewServer(Handler(map[string]httpapi.Handler{"unlink": echo(&got)}, nil))
	defer srv.Close()
	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST /api/auth/toss/unlink HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"+
		"Content-Type: application/json\r\n\r\n5\r\n{\"use\r\nzz\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest || got.Version != "" {
		t.Fatalf("status %d, function called: %v; want 400 and no call", resp.StatusCode, got.Version != "")
	}
}

// zeros is an endless body.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
