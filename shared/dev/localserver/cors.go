package localserver

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// Origins is the CORS allow-list of the deployed API (template.yaml's AllowedOrigins, or the two
// origins derived from AppName): exact origins only, as HTTP APIs take them, comma-separated.
type Origins struct{ exact map[string]bool }

// ParseOrigins reads a comma-separated list of exact origins.
func ParseOrigins(list string) (*Origins, error) {
	o := &Origins{exact: map[string]bool{}}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" ||
			u.RawQuery != "" || u.User != nil || strings.Contains(e, "*") {
			return nil, fmt.Errorf("origin %q must be exact: http(s)://host[:port], no path or wildcard", e)
		}
		o.exact[strings.ToLower(e)] = true
	}
	return o, nil
}

// With is o and one more origin.
func (o *Origins) With(origin string) *Origins {
	n := &Origins{exact: map[string]bool{strings.ToLower(origin): true}}
	if o != nil {
		for k := range o.exact {
			n.exact[k] = true
		}
	}
	return n
}

// Allowed reports whether origin may call the API's browser routes.
func (o *Origins) Allowed(origin string) bool {
	return o != nil && origin != "" && o.exact[strings.ToLower(origin)]
}

// preflight is API Gateway's answer to a CORS preflight of a browser route: 204, with the CORS
// headers only for an allowed origin, so the browser refuses the real request otherwise.
func preflight(w http.ResponseWriter, origin string, allowed bool) {
	if allowed {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "content-type")
		h.Set("Access-Control-Max-Age", "600")
		h.Set("Vary", "Origin")
	}
	w.WriteHeader(http.StatusNoContent)
}
