// Package miniapp plays the mini-app for the local run: a page on its own origin that runs the
// migration guide's client flow against the API (so CORS is real), with the Apps-in-Toss SDK calls
// (getUserKeyForGame, getIsTossLoginIntegratedService, appLogin) stubbed by the Toss simulator, a
// button that makes Toss call the unlink callback, and the studio's events as they arrive.
package miniapp

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

//go:embed page.html
var page []byte

// Config is what the page's server stands on.
type Config struct {
	// API is the partner API's base URL, another origin than the page's.
	API string
	// AppLogin mints an authorization code for a Toss user, as appLogin() does in the sandbox.
	AppLogin func(ctx context.Context, userKey int64) (code, referrer string, err error)
	// Integrated answers getIsTossLoginIntegratedService() for a user; nil means always true.
	Integrated func(ctx context.Context, userKey int64) (bool, error)
	// Callback is the unlink callback's URL and BasicAuth the value Toss sends with it.
	Callback, BasicAuth string
	// Events returns the studio's events that arrived since the last call; nil turns the feed off.
	Events func(ctx context.Context) ([]json.RawMessage, error)
}

// Handler serves the page, the SDK stubs under /sdk/, Toss's side of a disconnect under /toss/,
// and the events feed.
func Handler(c Config) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		w.Write(page)
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, r *http.Request) {
		reply(w, http.StatusOK, map[string]any{"api": c.API, "events": c.Events != nil})
	})
	mux.HandleFunc("POST /sdk/appLogin", func(w http.ResponseWriter, r *http.Request) {
		uk, ok := userKey(w, r)
		if !ok {
			return
		}
		code, referrer, err := c.AppLogin(r.Context(), uk)
		if err != nil {
			reply(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]string{"authorizationCode": code, "referrer": referrer})
	})
	mux.HandleFunc("POST /sdk/getIsTossLoginIntegratedService", func(w http.ResponseWriter, r *http.Request) {
		uk, ok := userKey(w, r)
		if !ok {
			return
		}
		integrated := true
		if c.Integrated != nil {
			var err error
			if integrated, err = c.Integrated(r.Context(), uk); err != nil {
				reply(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
				return
			}
		}
		reply(w, http.StatusOK, integrated)
	})
	mux.HandleFunc("POST /toss/disconnect", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			UserKey  json.Number `json:"userKey"`
			Referrer string      `json:"referrer"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in); err != nil {
			reply(w, http.StatusBadRequest, map[string]string{"error": "want {userKey, referrer}"})
			return
		}
		status, body, err := disconnect(r.Context(), c, in.UserKey.String(), in.Referrer)
		if err != nil {
			reply(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		reply(w, http.StatusOK, map[string]any{"status": status, "body": json.RawMessage(body)})
	})
	mux.HandleFunc("GET /events", func(w http.ResponseWriter, r *http.Request) {
		if c.Events == nil {
			reply(w, http.StatusOK, []json.RawMessage{})
			return
		}
		evs, err := c.Events(r.Context())
		if err != nil {
			reply(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		if evs == nil {
			evs = []json.RawMessage{}
		}
		reply(w, http.StatusOK, evs)
	})
	return mux
}

// disconnect is Toss calling the unlink callback, server to server, as its console is set up:
// POST with the userKey as a JSON number and the console's Basic Auth value.
func disconnect(ctx context.Context, c Config, userKey, referrer string) (int, []byte, error) {
	if _, err := strconv.ParseInt(userKey, 10, 64); err != nil {
		return 0, nil, fmt.Errorf("userKey %q is not a number", userKey)
	}
	body := fmt.Sprintf(`{"userKey":%s,"referrer":%q}`, userKey, referrer)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.Callback, bytes.NewReader([]byte(body)))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(c.BasicAuth)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, b, err
}

func userKey(w http.ResponseWriter, r *http.Request) (int64, bool) {
	var in struct {
		UserKey json.Number `json:"userKey"`
	}
	err := json.NewDecoder(io.LimitReader(r.Body, 4096)).Decode(&in)
	uk, perr := strconv.ParseInt(in.UserKey.String(), 10, 64)
	if err != nil || perr != nil {
		reply(w, http.StatusBadRequest, map[string]string{"error": "want {userKey: number}"})
		return 0, false
	}
	return uk, true
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
