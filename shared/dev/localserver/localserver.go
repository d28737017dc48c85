// Package localserver serves Lambda handlers over plain HTTP: each request becomes the API Gateway
// HTTP API (payload 2.0) event API Gateway would send, and the handler's answer becomes the HTTP
// response. The local run and the end-to-end tests use it, so they exercise the same handler code
// Lambda runs.
package localserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/routes"
)

// maxBody mirrors API Gateway's payload limit; the handlers enforce their own, smaller one.
const maxBody = 10 << 20

// Timeout is the simulated function timeout (template.yaml's Globals.Function.Timeout).
const Timeout = 10 * time.Second

// Handler serves the handlers (by function name) as the deployed HTTP API does: routes.All
// decides which method and path reach which function; for browser routes, the API's CORS
// configuration (origins) answers preflights and sets Access-Control-Allow-Origin on answers, as
// API Gateway does whatever the function returns; anything else is API Gateway's 404.
func Handler(handlers map[string]httpapi.Handler, origins *Origins) http.Handler {
	type key struct{ method, path string }
	byRoute := map[key]httpapi.Handler{}
	cors := map[string]bool{}
	for _, r := range routes.All {
		h, ok := handlers[r.Function]
		if !ok {
			continue
		}
		for _, m := range r.Methods {
			byRoute[key{m, r.Path}] = h
		}
		cors[r.Path] = r.CORS
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		allowed := cors[r.URL.Path] && origins.Allowed(origin)
		if r.Method == http.MethodOptions && cors[r.URL.Path] {
			preflight(w, origin, allowed)
			return
		}
		h, ok := byRoute[key{r.Method, r.URL.Path}]
		if !ok {
			gatewayError(w, http.StatusNotFound, "Not Found")
			return
		}
		ev, err := Event(r)
		if err != nil {
			if errors.Is(err, errTooLarge) {
				gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
			} else {
				gatewayError(w, http.StatusBadRequest, "Bad Request")
			}
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), Timeout)
		defer cancel()
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: ev.RequestContext.RequestID})
		resp, err := h(ctx, ev)
		if err != nil {
			// What API Gateway answers when the integration fails.
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		if cors[r.URL.Path] {
			for k := range resp.Headers { // API Gateway drops the function's own CORS headers
				if strings.HasPrefix(strings.ToLower(k), "access-control-") {
					delete(resp.Headers, k)
				}
			}
			if allowed {
				w.Header().Set("Access-Control-Allow-Origin", origin)
				w.Header().Set("Vary", "Origin")
			}
		}
		Write(w, resp)
	})
}

// gatewayError is one of API Gateway's own answers.
func gatewayError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	io.WriteString(w, `{"message":"`+message+`"}`)
}

var errTooLarge = errors.New("request body over API Gateway's limit")

// Event builds the payload 2.0 event API Gateway would send for r.
func Event(r *http.Request) (events.APIGatewayV2HTTPRequest, error) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, fmt.Errorf("read request body: %w", err)
	}
	if len(raw) > maxBody {
		return events.APIGatewayV2HTTPRequest{}, errTooLarge
	}
	headers := map[string]string{}
	var cookies []string
	for k, vs := range r.Header {
		if strings.EqualFold(k, "Cookie") {
			cookies = append(cookies, vs...)
			continue
		}
		headers[strings.ToLower(k)] = strings.Join(vs, ",")
	}
	if r.Host != "" {
		headers["host"] = r.Host
	}
	var query map[string]string
	if q := r.URL.Query(); len(q) > 0 {
		query = map[string]string{}
		for k, vs := range q {
			query[k] = strings.Join(vs, ",")
		}
	}
	id := requestID()
	now := time.Now()
	ev := events.APIGatewayV2HTTPRequest{
		Version:               "2.0",
		RouteKey:              r.Method + " " + r.URL.Path,
		RawPath:               r.URL.Path,
		RawQueryString:        r.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			AccountID:  "123456789012",
			APIID:      "local",
			DomainName: r.Host,
			RequestID:  id,
			RouteKey:   r.Method + " " + r.URL.Path,
			Stage:      "$default",
			Time:       now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:  now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  sourceIP(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
	// API Gateway passes text bodies as they are and base64-encodes the rest.
	if len(raw) > 0 {
		if utf8.Valid(raw) && isText(r.Header.Get("Content-Type")) {
			ev.Body = string(raw)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(raw), true
		}
	}
	return ev, nil
}

func isText(ct string) bool {
	ct = strings.ToLower(ct)
	return ct == "" || strings.HasPrefix(ct, "text/") || strings.Contains(ct, "json") || strings.Contains(ct, "xml") ||
		strings.HasPrefix(ct, "application/x-www-form-urlencoded") || strings.Contains(ct, "javascript")
}

// Write sends a handler's answer as API Gateway would.
func Write(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) {
	for k, v := range resp.Headers {
		w.Header().Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		if b, err := base64.StdEncoding.DecodeString(resp.Body); err == nil {
			body = b
		}
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	w.Write(body)
}

func sourceIP(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return host
}

func requestID() string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
