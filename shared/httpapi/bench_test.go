package httpapi

import (
	"context"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// countingWriter counts what the logger writes, so that the benchmark reports the bytes of log
// per request next to the allocations.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// BenchmarkRequest measures one request through each route's wrapper with the production log
// shape (slog JSON with Lambda's key names) and a domain that answers at once: what the wrapper
// itself costs (decoding, validation, the error map, the log line and its metrics).
func BenchmarkRequest(b *testing.B) {
	auth := func(context.Context, bool) ([]string, error) { return []string{"id:pw"}, nil }
	cases := []struct {
		name string
		h    func(Options) Handler
		req  events.APIGatewayV2HTTPRequest
	}{
		{"status", func(o Options) Handler { return Status(&fakeDomain{}, o) }, request("POST", `{"hash":"abc"}`)},
		{"link", func(o Options) Handler { return Link(&fakeDomain{}, o) }, request("POST", `{"hash":"abc","authorizationCode":"c"}`)},
		{"unlink", func(o Options) Handler { return Unlink(&fakeDomain{unlinked: true}, auth, o) },
			unlinkReq("GET", "userKey=5&referrer=UNLINK", "", basic("id:pw"))},
		{"refused", func(o Options) Handler { return Status(&fakeDomain{}, o) }, request("POST", `{}`)},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			w := &countingWriter{}
			log := slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
			h := c.h(Options{Log: log})
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := h(ctx, c.req); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.n)/float64(b.N), "logB/op")
		})
	}
}
