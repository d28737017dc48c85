package main

import (
	"log/slog"
	"net/http"
	"time"
)

// accessLog logs every request as the API's access log does in AWS (method, path, status,
// origin): the local run shows preflights and refusals, and tests read them.
func accessLog(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Info("access", "method", r.Method, "path", r.URL.Path, "status", rec.status,
			"origin", r.Header.Get("Origin"), "ms", time.Since(start).Milliseconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}
