package httpapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/aws/aws-lambda-go/events"
)

// DefaultOrigins are where Apps-in-Toss serves mini-apps: live and console QR test builds.
const DefaultOrigins = "https://*.apps.tossmini.com,https://*.private-apps.tossmini.com"

// Origins is a CORS allow-list. An entry is an exact origin ("https://my-game.apps.tossmini.com")
// or has one "*" standing for exactly one DNS label ("https://*.apps.tossmini.com"), so that
// "https://evil.example.apps.tossmini.com" does not pass for a one-label pattern.
type Origins struct {
	exact    map[string]bool
	patterns [][2]string // prefix, suffix around the "*"
}

// ParseOrigins reads a comma-separated list.
func ParseOrigins(list string) (*Origins, error) {
	o := &Origins{exact: map[string]bool{}}
	for _, e := range strings.Split(list, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.HasPrefix(e, "https://") && !strings.HasPrefix(e, "http://") {
			return nil, fmt.Errorf("origin %q must start with https:// or http://", e)
		}
		switch strings.Count(e, "*") {
		case 0:
			o.exact[strings.ToLower(e)] = true
		case 1:
			i := strings.Index(e, "*")
			o.patterns = append(o.patterns, [2]string{strings.ToLower(e[:i]), strings.ToLower(e[i+1:])})
		default:
			return nil, fmt.Errorf("origin %q has more than one *", e)
		}
	}
	return o, nil
}

// Allowed reports whether origin may call the API from a browser.
func (o *Origins) Allowed(origin string) bool {
	if o == nil {
		return false
	}
	origin = strings.ToLower(origin)
	if o.exact[origin] {
		return true
	}
	for _, p := range o.patterns {
		if len(origin) > len(p[0])+len(p[1]) && strings.HasPrefix(origin, p[0]) && strings.HasSuffix(origin, p[1]) &&
			isLabel(origin[len(p[0]):len(origin)-len(p[1])]) {
			return true
		}
	}
	return false
}

func isLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// preflight answers OPTIONS. An origin that is not allowed gets no CORS headers, so the browser
// refuses the real request.
func preflight(allowed bool) events.APIGatewayV2HTTPResponse {
	h := map[string]string{}
	if allowed {
		h["Access-Control-Allow-Methods"] = "POST, OPTIONS"
		h["Access-Control-Allow-Headers"] = "Content-Type"
		h["Access-Control-Max-Age"] = "600"
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusNoContent, Headers: h}
}
