// Command local runs the product on this machine with no AWS account: moto_server for DynamoDB
// and Secrets Manager (unless AWS_ENDPOINT_URL_DYNAMODB names one), the Toss simulator, and the
// three routes on http://127.0.0.1:3000, served by the same handlers as the Lambda functions.
// `make run` starts it; Ctrl-C stops everything it started.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localserver"
	"github.com/tossgame/migration-server/shared/dev/localstate"
)

type settings struct {
	addr, sandbox, tossAPI, basicAuth string
	page                              string // where the mini-app page is served
	origins                           *localserver.Origins
	log                               io.Writer // where logs go; nil: stderr
	stateFile                         string    // where `migrationctl --local` finds this stack; "" writes none
}

func main() {
	var s settings
	flag.StringVar(&s.addr, "addr", "127.0.0.1:3000", "where the three routes are served")
	flag.StringVar(&s.sandbox, "sandbox", "127.0.0.1:3001", "where the Toss simulator mints authorization codes")
	flag.StringVar(&s.tossAPI, "toss-api", "127.0.0.1:3002", "where the Toss simulator serves the partner API (mTLS)")
	flag.StringVar(&s.page, "page", "127.0.0.1:3003", "where the mini-app page is served (its own origin; empty: none)")
	flag.StringVar(&s.basicAuth, "basic-auth", envOr("UNLINK_BASIC_AUTH", devenv.DefaultBasicAuth), "the unlink callback's Basic Auth value")
	allowed := flag.String("allowed-origins", os.Getenv("ALLOWED_ORIGINS"),
		"exact browser origins allowed by CORS besides the mini-app page's, comma-separated (the template's AllowedOrigins)")
	statePath, _ := localstate.Path(os.Getenv)
	flag.StringVar(&s.stateFile, "state-file", statePath, "where to record this stack's endpoints for `migrationctl --local` (empty: nowhere)")
	flag.Parse()
	var err error
	if s.origins, err = localserver.ParseOrigins(*allowed); err != nil {
		fmt.Fprintln(os.Stderr, "local: -allowed-origins:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s, os.Stdout, nil); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

// endpoints are where a running local stack listens.
type endpoints struct {
	API, Sandbox, Page string // Page is "" without the mini-app page
}

// run serves until ctx ends. ready, when not nil, receives where it listens.
func run(ctx context.Context, s settings, out *os.File, ready chan<- endpoints) error {
	logw := s.log
	if logw == nil {
		logw = os.Stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	slog.SetDefault(log)

	ln, err := net.Listen("tcp", s.addr) // before starting anything, so a busy port fails fast
	if err != nil {
		return err
	}
	// On every return: a failed start must free the port (Serve and Shutdown close it too; a
	// second Close is harmless).
	defer ln.Close()
	stack, err := devenv.Start(ctx, devenv.Options{
		APIAddr: s.tossAPI, SandboxAddr: s.sandbox, BasicAuth: s.basicAuth,
		Table: "toss-migration-local", Secret: "toss-migration/local",
		// The studio's events: the table's stream -> functions/events' handler -> a local bus
		// -> a rule -> a queue (docs/events.md).
		Events: true, EventBus: "toss-migration-local", EventsLog: log,
	})
	if err != nil {
		return err
	}
	defer stack.Close()

	// The stack's own settings win; the rest (KEEP_PROFILE_FIELDS, VERIFY_HASH, ALLOWED_ORIGINS,
	// SECRET_TTL) come from this shell, as they would from a function's environment.
	cfg, err := config.FromEnv(func(k string) string {
		if v := stack.Getenv(k); v != "" {
			return v
		}
		return os.Getenv(k)
	}, config.TableAndSecret)
	if err != nil {
		return err
	}
	cfg.TossRoots = stack.CA.Pool()
	at := endpoints{API: "http://" + ln.Addr().String(), Sandbox: stack.Sim.SandboxURL()}
	origins := s.origins
	if s.page != "" {
		// The page is a browser client on its own origin, which the API must allow, as the
		// mini-app's origins are allowed in the template.
		if at.Page, err = servePage(ctx, s.page, at.API, stack, s.basicAuth); err != nil {
			ln.Close()
			return fmt.Errorf("mini-app page: %w", err)
		}
		origins = origins.With(at.Page)
	}
	srv := &http.Server{Handler: accessLog(log, localserver.Handler(devenv.Handlers(cfg, log, stack.DB, stack.SM), origins)),
		ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	if at.Page != "" {
		fmt.Fprintf(out, "\nMini-app page (plays the client in a browser): %s\n", at.Page)
	}
	fmt.Fprint(out, Banner(at.API, at.Sandbox, stack.Moto.Endpoint, stack.Moto.SQSEndpoint(), stack.Table, s.basicAuth))
	fmt.Fprint(out, EventsBanner(stack.Events.Bus, stack.Events.QueueURL))
	if s.stateFile != "" {
		if err := localstate.Write(s.stateFile, localState(at.API, stack)); err != nil {
			log.Warn("migrationctl --local will not find this stack", "stateFile", s.stateFile, "error", err)
		} else {
			defer localstate.Remove(s.stateFile, os.Getpid())
		}
	}
	if ready != nil {
		ready <- at
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fmt.Fprintln(out, "\nstopping: server, Toss simulator, moto_server")
	return srv.Shutdown(shutdown)
}

// localState is where this stack's parts are, for `migrationctl --local`.
func localState(base string, stack *devenv.Stack) localstate.State {
	return localstate.State{
		PID: os.Getpid(), API: base, Region: devenv.Region,
		DynamoDB: stack.Moto.Endpoint, SecretsManager: stack.Moto.Secrets, SQS: stack.Moto.SQSEndpoint(),
		EventQueueURL: stack.Events.QueueURL,
		Table:         stack.Table, SecretID: stack.SecretID,
		TossAPI: stack.Sim.APIURL(), TossCAFile: stack.CAFile, Sandbox: stack.Sim.SandboxURL(),
	}
}

// Banner is what `make run` prints: where things are, and a walk-through that works as printed.
func Banner(base, sandbox, dynamo, moto, table, basicAuth string) string {
	return fmt.Sprintf(`
Toss login -> game login migration server, running locally
  API              %s   (status, link, unlink as in template.yaml)
  Toss simulator   %s/sandbox/authorize   (mints authorization codes)
  DynamoDB         %s   (table %s)
  moto_server      %s   (Secrets Manager, EventBridge, SQS)
  unlink Basic Auth value: %s

Walk-through (copy and paste):
%s
Ctrl-C stops everything.
`, base, sandbox, dynamo, table, moto, basicAuth, WalkThrough(base, sandbox, basicAuth))
}

// EventsBanner says where the studio's events arrive locally.
func EventsBanner(bus, queue string) string {
	return fmt.Sprintf(`Events (UserLinked, UserUnlinked, ...) on bus %s, delivered by a rule to the SQS queue
  %s
`, bus, queue)
}

// WalkThrough is a shell script of the whole flow; a test runs it.
func WalkThrough(base, sandbox, basicAuth string) string {
	return fmt.Sprintf(`
  # 1. the game starts: is this player's hash mapped yet?  -> {"isMapped":false}
  curl -s -X POST %[1]s/api/auth/migration/status -H 'Content-Type: application/json' -d '{"hash":"demo-hash-1"}'; echo
  # 2. appLogin() in the sandbox: mint a code for Toss user 443731104
  CODE=$(curl -s -X POST %[2]s/sandbox/authorize -d '{"userKey":443731104}' | sed -E 's/.*"authorizationCode":"([^"]+)".*/\1/')
  # 3. link the hash to that user  -> {"success":true}
  curl -s -X POST %[1]s/api/auth/migration/link -H 'Content-Type: application/json' -d '{"hash":"demo-hash-1","authorizationCode":"'"$CODE"'","referrer":"SANDBOX"}'; echo
  # 4. mapped now  -> {"isMapped":true}
  curl -s -X POST %[1]s/api/auth/migration/status -H 'Content-Type: application/json' -d '{"hash":"demo-hash-1"}'; echo
  # 5. Toss calls the unlink callback when the user disconnects  -> {"success":true}
  curl -s -u '%[3]s' '%[1]s/api/auth/toss/unlink?userKey=443731104&referrer=UNLINK'; echo
  # 6. the mapping is gone  -> {"isMapped":false}
  curl -s -X POST %[1]s/api/auth/migration/status -H 'Content-Type: application/json' -d '{"hash":"demo-hash-1"}'; echo
`, base, sandbox, basicAuth)
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
