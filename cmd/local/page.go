package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/miniapp"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/routes"
)

// servePage serves the mini-app page on its own origin (addr), playing the client against the API
// at base; it stops with ctx. It returns the page's URL.
func servePage(ctx context.Context, addr, base string, stack *devenv.Stack, basicAuth string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	var feed func(context.Context) ([]json.RawMessage, error)
	if stack.Events != nil {
		// A subscriber of its own, so the page takes nothing from the queue migrationctl reads.
		queue, err := stack.Events.Subscribe(ctx, "page")
		if err != nil {
			ln.Close()
			return "", err
		}
		feed = func(ctx context.Context) ([]json.RawMessage, error) {
			got, err := stack.Events.ReceiveFrom(ctx, queue)
			out := make([]json.RawMessage, len(got))
			for i, d := range got {
				out[i] = json.RawMessage(d.Body)
			}
			return out, err
		}
	}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: miniapp.Handler(miniapp.Config{
		API: base,
		AppLogin: func(_ context.Context, userKey int64) (string, string, error) {
			return stack.Sim.Authorize(tosssim.FakeUser(userKey), "SANDBOX"), "SANDBOX", nil
		},
		Callback:  base + routes.Unlink.Path,
		BasicAuth: basicAuth,
		Events:    feed,
	})}
	go srv.Serve(ln) // ends with Shutdown below
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	return "http://" + ln.Addr().String(), nil
}
