package localserver

import (
	"context"
	"encoding/base64"
	"io"
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
	srv := httptest.NewServer(Handler(map[string]httpapi.Handler{"unlink": echo(&got)}))
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
	srv := httptest.NewServer(Handler(map[string]httpapi.Handler{"status": echo(&got)}))
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
