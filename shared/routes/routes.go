// Package routes is the product's route table, as data: each HTTP route's path, methods, the
// function that serves it, whether browsers call it (CORS) and how it is authenticated. The
// handlers, the local server, the template test, the bench and the CLI read it; template.yaml
// declares the same routes, and a test holds the two together.
package routes

import (
	"net/http"
	"strings"
)

// Auth is how a route authenticates its caller.
type Auth string

const (
	// Public routes are called by the mini-app; the hash is the caller's only claim.
	Public Auth = "public"
	// Basic routes are Toss's server-to-server callback with the console's Basic Auth value.
	Basic Auth = "basic"
)

// Route is one route of the HTTP API.
type Route struct {
	// Function is the function serving it: functions/<Function>, the template's
	// <Function>Function resource (see LogicalID).
	Function string
	Path     string
	Methods  []string
	// CORS is true for routes the mini-app calls from a browser: API Gateway answers their
	// preflight and adds the CORS headers. The callback has none.
	CORS bool
	Auth Auth
}

var (
	// Status answers whether a hash is mapped.
	Status = Route{Function: "status", Path: "/api/auth/migration/status", Methods: []string{http.MethodPost}, CORS: true, Auth: Public}
	// Link maps a hash to the Toss user behind an authorization code.
	Link = Route{Function: "link", Path: "/api/auth/migration/link", Methods: []string{http.MethodPost}, CORS: true, Auth: Public}
	// Unlink is the callback Toss calls when a user disconnects, withdraws consent or leaves Toss.
	Unlink = Route{Function: "unlink", Path: "/api/auth/toss/unlink", Methods: []string{http.MethodGet, http.MethodPost}, Auth: Basic}
)

// All is every route, in the order the docs list them.
var All = []Route{Status, Link, Unlink}

// LogicalID is the template's resource name of the route's function: "status" -> StatusFunction.
func (r Route) LogicalID() string { return LogicalID(r.Function) }

// LogicalID is the template's resource name of a function: "status" -> StatusFunction.
func LogicalID(function string) string {
	return strings.ToUpper(function[:1]) + function[1:] + "Function"
}
