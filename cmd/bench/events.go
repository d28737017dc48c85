package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/cmd/bench/barefn"
)

// subject is what the bench needs to know of one function of the route table: the request its
// budgets are measured on (all against the instant endpoint, where the hash and the user are
// mapped) and the bare calls it cannot avoid.
type subject struct {
	label   string
	event   func(*fixtures) events.APIGatewayV2HTTPRequest
	want    string // the function's answer to it
	secrets bool   // it has a Secrets Manager client: its bare twin is cmd/bench/barefn/secrets
	// bare is the SDK calls of one warm request (the in-process baseline), and its description.
	bare     func(db barefn.DynamoDB) func(context.Context) error
	bareDesc string
}

var subjects = map[string]subject{
	"status": {label: "status", event: func(f *fixtures) events.APIGatewayV2HTTPRequest { return f.statusEvent(barefn.Hash) },
		want: `{"isMapped":true}`, bare: getHash, bareDesc: "1 GetItem"},
	"link": {label: "link, mapped hash", event: func(f *fixtures) events.APIGatewayV2HTTPRequest {
		return f.linkEvent(barefn.Hash, "not-spent-on-a-mapped-hash")
	},
		want: `{"success":true}`, secrets: true, bare: getHash, bareDesc: "1 GetItem"},
	"unlink": {label: "unlink, mapped user", event: func(f *fixtures) events.APIGatewayV2HTTPRequest { return f.unlinkEvent(barefn.UserKey) },
		want: `{"success":true}`, secrets: true, bare: unlinkCalls, bareDesc: "GetItem + TransactWriteItems"},
}

// fixtures are the project's API Gateway v2 events (events/*.json), the ones cmd/invoke and the
// binary tests use; the bench only changes the body or the query.
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
func withBody(ev events.APIGatewayV2HTTPRequest, v any) events.APIGatewayV2HTTPRequest {
	b, _ := json.Marshal(v)
	ev.Headers = maps.Clone(ev.Headers)
	ev.Headers["content-length"] = strconv.Itoa(len(b))
	ev.Body = string(b)
	return ev
}

func (f *fixtures) statusEvent(hash string) events.APIGatewayV2HTTPRequest {
	return withBody(f.status, map[string]string{"hash": hash})
}

func (f *fixtures) linkEvent(hash, code string) events.APIGatewayV2HTTPRequest {
	return withBody(f.link, map[string]string{"hash": hash, "authorizationCode": code, "referrer": "SANDBOX"})
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

// answer decodes a function's payload and checks it is a 200 with the wanted body.
func answer(payload []byte, wantBody string) error {
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(payload, &resp); err != nil {
		return fmt.Errorf("payload is not an API Gateway response: %s", payload)
	}
	if resp.StatusCode != 200 || resp.Body != wantBody {
		return fmt.Errorf("answer %d %s, want 200 %s", resp.StatusCode, resp.Body, wantBody)
	}
	return nil
}
