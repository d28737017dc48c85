package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-lambda-go/events"
)

// fixtures are the project's API Gateway v2 events (events/*.json), the ones cmd/invoke and the
// binary tests use; the benchmarks only change the body or the query.
type fixtures struct {
	status, link, unlink events.APIGatewayV2HTTPRequest
}

func loadFixtures(root string) (*fixtures, error) {
	var f fixtures
	for name, dst := range map[string]*events.APIGatewayV2HTTPRequest{
		"status.json": &f.status, "link.json": &f.link, "unlink-get.json": &f.unlink,
	} {
		raw, err := os.ReadFile(filepath.Join(root, "events", name))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, fmt.Errorf("events/%s: %w", name, err)
		}
	}
	return &f, nil
}

// withBody copies ev with a new JSON body (and a matching content-length header).
func withBody(ev events.APIGatewayV2HTTPRequest, body string) events.APIGatewayV2HTTPRequest {
	h := make(map[string]string, len(ev.Headers))
	for k, v := range ev.Headers {
		h[k] = v
	}
	h["content-length"] = strconv.Itoa(len(body))
	ev.Headers = h
	ev.Body = body
	return ev
}

func (f *fixtures) statusEvent(hash string) events.APIGatewayV2HTTPRequest {
	b, _ := json.Marshal(map[string]string{"hash": hash})
	return withBody(f.status, string(b))
}

func (f *fixtures) linkEvent(hash, code string) events.APIGatewayV2HTTPRequest {
	b, _ := json.Marshal(map[string]string{"hash": hash, "authorizationCode": code, "referrer": "SANDBOX"})
	return withBody(f.link, string(b))
}

// unlinkEvent is Toss's GET callback for userKey, with the fixture's Basic Auth (devenv's default).
func (f *fixtures) unlinkEvent(userKey int64) events.APIGatewayV2HTTPRequest {
	ev := f.unlink
	k := strconv.FormatInt(userKey, 10)
	ev.RawQueryString = "userKey=" + k + "&referrer=UNLINK"
	ev.QueryStringParameters = map[string]string{"userKey": k, "referrer": "UNLINK"}
	return ev
}

func marshal(ev events.APIGatewayV2HTTPRequest) []byte {
	b, err := json.Marshal(ev)
	if err != nil {
		panic(err) // a struct of strings and maps
	}
	return b
}

// answer decodes a function's payload and checks it is a 200 with the wanted body ("" = any).
func answer(payload []byte, wantBody string) error {
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return fmt.Errorf("payload is not an API Gateway response: %s", payload)
	}
	if resp.StatusCode != 200 || (wantBody != "" && resp.Body != wantBody) {
		return fmt.Errorf("answer %d %s, want 200 %s", resp.StatusCode, resp.Body, wantBody)
	}
	return nil
}
