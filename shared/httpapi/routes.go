package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/routes"
)

// Statuser answers whether a hash is mapped.
type Statuser interface {
	Status(ctx context.Context, hash string) (bool, error)
}

// Linker links a hash with the user behind an authorization code.
type Linker interface {
	Link(ctx context.Context, hash, code, referrer string) error
}

// Unlinker removes a user's mapping; referrer is what Toss sent, passed on to the studio.
type Unlinker interface {
	Unlink(ctx context.Context, userKey int64, referrer string) (bool, error)
}

// BasicAuthSource returns the callback's configured Basic Auth value ("" = not configured).
type BasicAuthSource func(ctx context.Context) (string, error)

// Status serves POST /api/auth/migration/status {hash} -> {isMapped}.
func Status(svc Statuser, opt Options) Handler {
	return route{Route: routes.Status, opt: opt,
		serve: func(ctx context.Context, req *events.APIGatewayV2HTTPRequest) (any, error) {
			var hash string
			if err := decode(req, opt.MaxBody, field{"hash", &hash}); err != nil {
				return nil, err
			}
			if err := text("hash", hash, true, MaxHashLen); err != nil {
				return nil, err
			}
			mapped, err := svc.Status(ctx, hash)
			if err != nil {
				return nil, err
			}
			return struct {
				IsMapped bool `json:"isMapped"`
			}{mapped}, nil
		}}.handler()
}

type success struct {
	Success bool `json:"success"`
}

// Link serves POST /api/auth/migration/link {hash, authorizationCode, referrer?} -> {success:true}.
func Link(svc Linker, opt Options) Handler {
	return route{Route: routes.Link, opt: opt,
		serve: func(ctx context.Context, req *events.APIGatewayV2HTTPRequest) (any, error) {
			var in struct{ Hash, AuthorizationCode, Referrer string }
			err := decode(req, opt.MaxBody, field{"hash", &in.Hash},
				field{"authorizationCode", &in.AuthorizationCode}, field{"referrer", &in.Referrer})
			if err != nil {
				return nil, err
			}
			if err := text("hash", in.Hash, true, MaxHashLen); err != nil {
				return nil, err
			}
			if err := text("authorizationCode", in.AuthorizationCode, true, MaxCodeLen); err != nil {
				return nil, err
			}
			if err := text("referrer", in.Referrer, false, MaxReferrerLen); err != nil {
				return nil, err
			}
			if err := svc.Link(ctx, in.Hash, in.AuthorizationCode, in.Referrer); err != nil {
				return nil, err
			}
			return success{true}, nil
		}}.handler()
}

// Unlink serves Toss's unlink callback: GET ?userKey=&referrer= or POST {"userKey":n,"referrer":s},
// with Authorization: Basic <base64 of the console value>. It fails closed.
func Unlink(svc Unlinker, auth BasicAuthSource, opt Options) Handler {
	return route{Route: routes.Unlink, opt: opt,
		serve: func(ctx context.Context, req *events.APIGatewayV2HTTPRequest) (any, error) {
			if err := authorize(ctx, auth, header(req.Headers, "authorization")); err != nil {
				return nil, err
			}
			key, referrer, err := callback(req, opt.MaxBody)
			if err != nil {
				return nil, err
			}
			removed, err := svc.Unlink(ctx, key, referrer)
			if err != nil {
				return nil, err
			}
			// userKey is a pseudonymous id, not contact data; it is what an operator needs to
			// answer "was this user's data removed?".
			opt.logger().InfoContext(ctx, "unlink", "userKey", key, "referrer", referrerLabel(referrer), "removed", removed)
			return success{true}, nil
		}}.handler()
}

func decode(req *events.APIGatewayV2HTTPRequest, limit int, fields ...field) error {
	raw, err := body(req, limit)
	if err != nil {
		return err
	}
	return object(raw, fields...)
}

// authorize compares the decoded Basic credentials with the configured value, whole and in
// constant time (both sides are hashed first, so not even the length leaks).
func authorize(ctx context.Context, source BasicAuthSource, h string) error {
	want, err := source(ctx)
	if err != nil {
		return err
	}
	if want == "" {
		return apperr.ErrNotConfigured
	}
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return apperr.ErrUnauthorized
	}
	got, err := base64.StdEncoding.DecodeString(cred)
	// Only the canonical encoding: the decoder also takes CR/LF and non-zero padding bits, which
	// would let many different headers pass for the one configured value.
	if err != nil || base64.StdEncoding.EncodeToString(got) != cred {
		return apperr.ErrUnauthorized
	}
	g, w := sha256.Sum256(got), sha256.Sum256([]byte(want))
	if subtle.ConstantTimeCompare(g[:], w[:]) != 1 {
		return apperr.ErrUnauthorized
	}
	return nil
}

// callback reads userKey and referrer from the query (GET) or the JSON body (POST).
func callback(req *events.APIGatewayV2HTTPRequest, limit int) (int64, string, error) {
	if req.RequestContext.HTTP.Method == http.MethodGet {
		q, err := url.ParseQuery(req.RawQueryString)
		if err != nil {
			return 0, "", apperr.Input("query string is malformed")
		}
		if req.RawQueryString == "" && len(req.QueryStringParameters) > 0 {
			for k, v := range req.QueryStringParameters { // hand-written events without the raw form
				q.Set(k, v)
			}
		}
		if len(q["userKey"]) > 1 {
			return 0, "", apperr.Input(`field "userKey" appears more than once`)
		}
		key, err := userKey(q.Get("userKey"))
		if err != nil {
			return 0, "", err
		}
		return key, q.Get("referrer"), nil
	}
	var in struct{ UserKey, Referrer json.RawMessage }
	if err := decode(req, limit, field{"userKey", &in.UserKey}, field{"referrer", &in.Referrer}); err != nil {
		return 0, "", err
	}
	// Toss sends a JSON number; a string of digits is accepted too, since refusing a genuine
	// deletion request over its quoting would leave the user's data behind.
	raw := strings.TrimSpace(string(in.UserKey))
	if raw == "null" {
		raw = ""
	}
	if strings.HasPrefix(raw, `"`) {
		var s string
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return 0, "", apperr.Input("userKey must be a non-negative integer")
		}
		raw = s
	}
	key, err := userKey(raw)
	if err != nil {
		return 0, "", err
	}
	var referrer string
	_ = json.Unmarshal(in.Referrer, &referrer) // informational only: never refuse a deletion over it
	return key, referrer, nil
}

// referrerLabel keeps log values to the documented set.
func referrerLabel(r string) string {
	switch r {
	case "UNLINK", "WITHDRAWAL_TERMS", "WITHDRAWAL_TOSS":
		return r
	case "":
		return "none"
	default:
		return "other"
	}
}
