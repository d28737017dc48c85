// Package httpapi turns API Gateway HTTP API (payload 2.0) events into calls of the domain and
// its answers back into responses: method and body checks, validation, CORS, the unlink
// callback's Basic Auth, and the one table that maps errors to the contract's status codes.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/apperr"
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
}

// DefaultMaxBody is far above any valid request (a hash, a code and a referrer).
const DefaultMaxBody = 8 << 10

// DefaultMargin leaves time to write the answer when a dependency hangs.
const DefaultMargin = 300 * time.Millisecond

// Problem is a handled failure: the status and the contract's error code.
type Problem struct {
	Status  int
	Code    string
	Message string
}

// Classify is the one place where an error becomes an HTTP answer. Messages are fixed texts
// (or an InputError's own, which is written for clients): never an internal error's text.
func Classify(err error) Problem {
	var input *apperr.InputError
	var tooLarge *apperr.TooLargeError
	switch {
	case errors.As(err, &tooLarge):
		return Problem{http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", "request body is too large"}
	case errors.As(err, &input):
		return Problem{http.StatusBadRequest, "INVALID_REQUEST", input.Msg}
	case errors.Is(err, apperr.ErrInvalidCode):
		return Problem{http.StatusBadRequest, "INVALID_AUTHORIZATION_CODE", "the authorization code is expired or already used; call appLogin() again"}
	case errors.Is(err, apperr.ErrUnlinkedMeanwhile):
		return Problem{http.StatusBadRequest, "INVALID_AUTHORIZATION_CODE", "the Toss user disconnected this service while linking; call appLogin() again"}
	case errors.Is(err, apperr.ErrUnauthorized):
		return Problem{http.StatusUnauthorized, "UNAUTHORIZED", "missing or wrong credentials"}
	case errors.Is(err, errMethod):
		return Problem{http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "method not allowed for this route"}
	case errors.Is(err, apperr.ErrHashLinked):
		return Problem{http.StatusConflict, "HASH_ALREADY_LINKED", "this game account is already linked to another Toss user"}
	case errors.Is(err, apperr.ErrUserLinked):
		return Problem{http.StatusConflict, "USER_ALREADY_LINKED", "this Toss user is already linked to another game account"}
	case errors.Is(err, apperr.ErrTossUnavailable):
		return Problem{http.StatusBadGateway, "TOSS_UNAVAILABLE", "the Toss partner API did not answer as expected; try again later"}
	case errors.Is(err, apperr.ErrUnavailable), errors.Is(err, apperr.ErrNotConfigured),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Problem{http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE", "the service is temporarily unavailable; try again later"}
	default:
		return Problem{http.StatusInternalServerError, "INTERNAL_ERROR", "unexpected error"}
	}
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
}

// handler wraps a route with what every route does: method check, a deadline margin, the error
// map and one log line per request. CORS is API Gateway's (template.yaml's CorsConfiguration):
// it answers preflights and sets the headers of browser routes, ignoring any from the function.
func (rt route) handler() Handler {
	log := rt.opt.logger()
	margin := rt.opt.Margin
	if margin == 0 {
		margin = DefaultMargin
	}
	return func(ctx context.Context, req events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, _ error) {
		start := time.Now()
		method := req.RequestContext.HTTP.Method

		var err error
		defer func() {
			if p := recover(); p != nil {
				// Log the panic's type only: its value may hold request data.
				log.ErrorContext(ctx, "panic", "route", rt.Function)
				resp, err = errorResponse(Classify(errors.New("panic"))), nil
			}
			attrs := []any{"route", rt.Function, "method", method, "status", resp.StatusCode,
				"durationMs", float64(time.Since(start).Microseconds()) / 1000}
			switch {
			case resp.StatusCode >= 500:
				log.ErrorContext(ctx, "request failed", append(attrs, "error", errText(err))...)
			case resp.StatusCode >= 400:
				log.WarnContext(ctx, "request refused", append(attrs, "code", Classify(err).Code)...)
			default:
				log.InfoContext(ctx, "request", attrs...)
			}
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
