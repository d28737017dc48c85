// Package httpapi turns API Gateway HTTP API (payload 2.0) events into calls of the domain and
// its answers back into responses: method and body checks, validation, CORS, the unlink
// callback's Basic Auth, and the one table that maps errors to the contract's status codes.
package httpapi

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/routes"
)

// Handler is the signature every function hands to lambda.Start.
type Handler func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Options are shared by the three handlers.
type Options struct {
	Log *slog.Logger
	// MaxBody bounds request bodies; DefaultMaxBody when zero.
	MaxBody int
	// Margin is kept free before the invocation's deadline, so that a slow dependency still gets
	// a contract answer instead of a Lambda timeout.
	Margin time.Duration
	// Namespace is the CloudWatch namespace of the request metrics (config's METRICS_NAMESPACE);
	// metrics.DefaultNamespace when empty.
	Namespace string
}

// DefaultMaxBody is far above any valid request (a hash, a code and a referrer).
const DefaultMaxBody = 8 << 10

// DefaultMargin leaves time to write the answer when a dependency hangs.
const DefaultMargin = 300 * time.Millisecond

// Problem is a handled failure: the status and the contract's error code, and the Outcome
// dimension of the request's metric (docs/metrics.md).
type Problem struct {
	Status  int
	Code    string
	Message string
	Outcome string
}

// Classify is the one place where an error becomes an HTTP answer. Messages are fixed texts
// (or an InputError's own, which is written for clients): never an internal error's text.
func Classify(err error) Problem {
	var input *apperr.InputError
	var tooLarge *apperr.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return Problem{http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "request body is too large", "too_large"}
	case errors.As(err, &input):
		return Problem{http.StatusBadRequest, "INVALID_REQUEST", input.Msg, "invalid_request"}
	case errors.Is(err, apperr.ErrSandboxRefused):
		return Problem{http.StatusBadRequest, "SANDBOX_NOT_ALLOWED", "links from the sandbox app are not accepted here; use a sandbox deployment", "sandbox_refused"}
	case errors.Is(err, apperr.ErrInvalidCode):
		return Problem{http.StatusBadRequest, "INVALID_AUTHORIZATION_CODE", "the authorization code is expired or already used; call appLogin() again", "invalid_code"}
	case errors.Is(err, apperr.ErrUnlinkedMeanwhile):
		return Problem{http.StatusBadRequest, "INVALID_AUTHORIZATION_CODE", "the Toss user disconnected this service while linking; call appLogin() again", "unlinked_meanwhile"}
	case errors.Is(err, apperr.ErrUnauthorized):
		return Problem{http.StatusUnauthorized, "UNAUTHORIZED", "missing or wrong credentials", "unauthorized"}
	case errors.Is(err, errMethod):
		return Problem{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed for this route", "method_not_allowed"}
	case errors.Is(err, apperr.ErrHashLinked):
		return Problem{http.StatusConflict, "HASH_ALREADY_LINKED", "this game account is already linked to another Toss user", "hash_conflict"}
	case errors.Is(err, apperr.ErrUserLinked):
		return Problem{http.StatusConflict, "USER_ALREADY_LINKED", "this Toss user is already linked to another game account", "user_conflict"}
	case errors.Is(err, apperr.ErrTossUnavailable):
		return Problem{http.StatusBadGateway, "TOSS_UNAVAILABLE", "the Toss partner API did not answer as expected; try again later", "toss_unavailable"}
	case errors.Is(err, apperr.ErrNotConfigured):
		// Same answer as unavailable (clients can do nothing else), but our fault: counted apart.
		return Problem{http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the service is temporarily unavailable; try again later", "config_fault"}
	case errors.Is(err, apperr.ErrUnavailable),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Problem{http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the service is temporarily unavailable; try again later", "unavailable"}
	default:
		return Problem{http.StatusInternalServerError, "INTERNAL_ERROR", "unexpected error", "internal_error"}
	}
}

// outcomeOn is p's Outcome in the words the metric list uses for route: the callback calls a
// configuration fault "not_configured" (its Basic Auth value, or the secret, is missing).
func (p Problem) outcomeOn(route string) string {
	if p.Outcome == "config_fault" && route == routes.Unlink.Function {
		return "not_configured"
	}
	return p.Outcome
}

var errMethod = errors.New("method not allowed")

func (o Options) logger() *slog.Logger {
	if o.Log != nil {
		return o.Log
	}
	return slog.Default()
}

type route struct {
	routes.Route
	opt   Options
	serve func(ctx context.Context, req *events.APIGatewayV2HTTPRequest) (any, error)
	// ok is the Outcome of a success that neither serve nor the domain described
	// (metrics.SetOutcome).
	ok string
}

// Bounds of what a recovered panic writes to the log.
const (
	maxPanicValue = 512
	maxPanicStack = 8 << 10
)

// panicError is what a recovered panic returns to Lambda: an invocation error that Lambda counts
// in its Errors metric (and API Gateway answers 500). Its text is fixed: Lambda's error payload
// must not carry the panic's value.
type panicError struct{ route string }

func (e panicError) Error() string {
	return "recovered panic in the " + e.route + " handler (its value and stack are in the log)"
}

// handler wraps a route with what every route does: method check, a deadline margin, the error
// map, the request metrics and one log line per request. CORS is API Gateway's (template.yaml's
// CorsConfiguration): it answers preflights and sets the headers of browser routes, ignoring any
// from the function.
func (rt route) handler() Handler {
	log := rt.opt.logger()
	margin := rt.opt.Margin
	if margin == 0 {
		margin = DefaultMargin
	}
	namespace := cmp.Or(rt.opt.Namespace, metrics.DefaultNamespace)
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, lambdaErr error) {
		start := time.Now()
		method := req.RequestContext.HTTP.Method
		ctx, set := metrics.With(ctx)

		var err error
		defer func() {
			rec := recover()
			status := resp.StatusCode
			var p Problem
			var outcome string
			switch {
			case rec != nil:
				// Not a contract answer: an invocation error, so that the function's Errors
				// alarm sees it; API Gateway then answers 500 (docs/metrics.md).
				resp, lambdaErr = events.APIGatewayV2HTTPResponse{}, panicError{rt.Function}
				status, outcome = http.StatusInternalServerError, "internal_error"
			case err != nil:
				p = Classify(err)
				outcome = p.outcomeOn(rt.Function)
			default:
				outcome = cmp.Or(set.Outcome(), rt.ok)
			}
			line := make([]metrics.Metric, 1, 2)
			line[0] = metrics.Request(rt.Function, outcome, set.RequestDims()...)
			attrs := make([]slog.Attr, 4, 16) // room for the metrics' members too
			attrs[0], attrs[1] = slog.String("route", rt.Function), slog.String("method", method)
			attrs[2] = slog.Int("status", status)
			attrs[3] = slog.Float64("durationMs", float64(time.Since(start).Microseconds())/1000)
			level, msg := slog.LevelInfo, "request"
			switch {
			case rec != nil:
				// Logged once, here. The value may quote request data (a panic message built
				// from input): it is kept, for diagnosis, but bounded.
				level, msg = slog.LevelError, "request failed"
				attrs = append(attrs, slog.String("error", "panic"),
					slog.String("panic", truncate(fmt.Sprint(rec), maxPanicValue)),
					slog.String("stack", truncate(string(debug.Stack()), maxPanicStack)))
				line = append(line, metrics.Panic(rt.Function))
			case status >= 500:
				level, msg = slog.LevelError, "request failed"
				attrs = append(attrs, slog.String("error", errText(err)))
			case status >= 400:
				level, msg = slog.LevelWarn, "request refused"
				attrs = append(attrs, slog.String("code", p.Code))
			}
			set.Log(ctx, log, level, msg, namespace, line, attrs...)
		}()

		if !slices.Contains(rt.Methods, method) {
			err = errMethod
			resp = errorResponse(Classify(err))
			resp.Headers["Allow"] = strings.Join(rt.Methods, ", ")
			return resp, nil
		}
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, dl.Add(-margin))
			defer cancel()
		}
		var out any
		out, err = rt.serve(ctx, &req)
		if err != nil {
			resp = errorResponse(Classify(err))
			return resp, nil
		}
		resp = jsonResponse(http.StatusOK, out)
		return resp, nil
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// truncate cuts s to at most n bytes, on a UTF-8 boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	s = s[:n]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s + "…[truncated]"
}
