package httpapi

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/metrics"
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

// BasicAuthSource returns the Basic Auth values the callback accepts (the current one and,
// during a rotation, the next; none, or only empty ones, = not configured). fresh asks for a
// re-read of the secret, which the source rate-limits: the callback asks once after a
// credential that matched none, so that a value rotated in the console works within seconds.
type BasicAuthSource func(ctx context.Context, fresh bool) ([]string, error)

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
			outcome := "not_mapped"
			if mapped {
				outcome = "mapped"
			}
			metrics.SetOutcome(ctx, outcome)
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
		}, ok: "linked"}.handler()
}

// Unlink serves Toss's unlink callback: GET ?userKey=&referrer= or POST {"userKey":n,"referrer":s},
// with Authorization: Basic <base64 of the console value>. It fails closed.
func Unlink(svc Unlinker, auth BasicAuthSource, opt Options) Handler {
	return route{Route: routes.Unlink, opt: opt,
		serve: func(ctx context.Context, req *events.APIGatewayV2HTTPRequest) (any, error) {
			// Read before the credentials are checked, only so that refused callbacks are counted
			// by the referrer they claim too (a mis-set console sends real referrers); the
			// credentials' verdict still comes first.
			key, referrer, badRequest := callback(req, opt.MaxBody)
			metrics.SetRequestDim(ctx, metrics.Dim{Name: "Referrer", Value: referrerLabel(referrer)})
			if err := authorize(ctx, auth, header(req.Headers, "authorization")); err != nil {
				return nil, err
			}
			if badRequest != nil {
				return nil, badRequest
			}
			removed, err := svc.Unlink(ctx, key, referrer)
			if err != nil {
				return nil, err
			}
			outcome := "unknown_user"
			if removed {
				outcome = "removed"
			}
			metrics.SetOutcome(ctx, outcome)
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

// authorize compares the decoded Basic credentials with each accepted value, whole and in
// constant time (both sides are hashed first, so not even the length leaks). A credential that
// matches none gets one more comparison against a freshly read secret (rate-limited by the
// source), so a rotated value is accepted at once rather than after the cache's TTL.
func authorize(ctx context.Context, source BasicAuthSource, h string) error {
	want, err := source(ctx, false)
	if err != nil {
		return err
	}
	if !configured(want) {
		return apperr.ErrNotConfigured
	}
	got, err := credential(h)
	if err != nil {
		return err
	}
	if matches(got, want) {
		return nil
	}
	if want, err = source(ctx, true); err != nil {
		return err
	}
	if !configured(want) {
		return apperr.ErrNotConfigured
	}
	if matches(got, want) {
		return nil
	}
	return apperr.ErrUnauthorized
}

func configured(values []string) bool {
	return slices.ContainsFunc(values, func(v string) bool { return v != "" })
}

// matches compares got with every non-empty value, without stopping at the first match.
func matches(got []byte, values []string) bool {
	g := sha256.Sum256(got)
	ok := 0
	for _, v := range values {
		if v == "" {
			continue
		}
		w := sha256.Sum256([]byte(v))
		ok |= subtle.ConstantTimeCompare(g[:], w[:])
	}
	return ok == 1
}

// credential decodes an Authorization: Basic header.
func credential(h string) ([]byte, error) {
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return nil, apperr.ErrUnauthorized
	}
	got, err := base64.StdEncoding.DecodeString(cred)
	// Only the canonical encoding: the decoder also takes CR/LF and non-zero padding bits, which
	// would let many different headers pass for the one configured value.
	if err != nil || base64.StdEncoding.EncodeToString(got) != cred {
		return nil, apperr.ErrUnauthorized
	}
	return got, nil
}

// callback reads userKey and referrer from the query (GET) or the JSON body (POST). The referrer
// is returned whenever it could be read, also with an error about the userKey.
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
			return 0, q.Get("referrer"), apperr.Input(`field "userKey" appears more than once`)
		}
		key, err := userKey(q.Get("userKey"))
		return key, q.Get("referrer"), err
	}
	var in struct{ UserKey, Referrer json.RawMessage }
	if err := decode(req, limit, field{"userKey", &in.UserKey}, field{"referrer", &in.Referrer}); err != nil {
		return 0, "", err
	}
	var referrer string
	_ = json.Unmarshal(in.Referrer, &referrer) // informational only: never refuse a deletion over it
	// Toss sends a JSON number; a string of digits is accepted too, since refusing a genuine
	// deletion request over its quoting would leave the user's data behind.
	raw := strings.TrimSpace(string(in.UserKey))
	if raw == "null" {
		raw = ""
	}
	if strings.HasPrefix(raw, `"`) {
		var s string
		if err := json.Unmarshal([]byte(raw), &s); err != nil {
			return 0, referrer, apperr.Input("userKey must be a non-negative integer")
		}
		raw = s
	}
	key, err := userKey(raw)
	return key, referrer, err
}

// referrerLabel keeps log and metric values to the documented set.
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
