// Command invoke runs a Lambda bootstrap binary locally, without Docker, the
// way `sam local invoke` does: it starts the binary as one execution
// environment behind an in-process Lambda Runtime API and invokes it with
// each event in turn.
//
//	go run ./cmd/invoke -binary .aws-sam/build/Fn/bootstrap -event a.json [-event b.json] [-env K=V] [-timeout 10s]
//
// By default it also starts the backends `make run` uses (moto_server, a table, a development
// secret, the Toss simulator) and replaces "<authorizationCode>" in events with a fresh code.
//
// Response payloads go to stdout (pretty JSON), the function's logs and the
// cold-start timing to stderr. The exit status is 1 if any invocation failed
// (function error, init error, crash, timeout), 2 on usage errors.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

// CodePlaceholder in an event is replaced by a fresh authorization code from the simulator, so
// events/link.json links for real on every run.
const CodePlaceholder = "<authorizationCode>"

// SandboxUser is the Toss user the minted codes belong to (the one events/unlink-*.json name).
const SandboxUser = 443731104

type listFlag []string

func (l *listFlag) String() string     { return fmt.Sprint(*l) }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	// The function's output (copied by the harness) and our own lines share stderr.
	stderr = &syncWriter{w: stderr}
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var events, env listFlag
	binary := fs.String("binary", "", "path of the bootstrap binary (built with -tags lambda.norpc for this OS)")
	fs.Var(&events, "event", "event JSON file, repeatable; invoked in order (default: one {} event)")
	fs.Var(&env, "env", "function environment variable K=V, repeatable")
	timeout := fs.Duration("timeout", runtimeapi.DefaultTimeout, "per-invocation timeout")
	name := fs.String("name", "", "function name (default: the binary's directory when it is named bootstrap)")
	inherit := fs.Bool("inherit-env", false, "also pass this process's environment to the function")
	backends := fs.Bool("backends", true, "start moto_server, a table, a secret and the Toss simulator (as make run does) and point the function at them")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *binary == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: invoke -binary PATH [-event FILE ...] [-env K=V ...] [-timeout 10s]")
		return 2
	}
	payloads := [][]byte{[]byte("{}")}
	if len(events) > 0 {
		payloads = payloads[:0]
		for _, f := range events {
			b, err := os.ReadFile(f)
			if err != nil {
				fmt.Fprintln(stderr, "invoke:", err)
				return 2
			}
			payloads = append(payloads, b)
		}
	}
	fnEnv := []string(env)
	if *inherit {
		fnEnv = append(os.Environ(), env...)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *backends {
		stack, err := devenv.Start(ctx, devenv.Options{})
		if err != nil {
			fmt.Fprintln(stderr, "invoke:", err)
			return 1
		}
		defer stack.Close()
		fnEnv = append(stack.Environ(), fnEnv...)
		for i, p := range payloads {
			if bytes.Contains(p, []byte(CodePlaceholder)) {
				code := stack.Sim.Authorize(tosssim.User{UserKey: SandboxUser}, "SANDBOX")
				payloads[i] = bytes.ReplaceAll(p, []byte(CodePlaceholder), []byte(code))
			}
		}
	}
	s, err := runtimeapi.Start(ctx, runtimeapi.Options{
		Binary: *binary, Env: fnEnv, FunctionName: *name, Timeout: *timeout, Logs: stderr,
	})
	if err != nil {
		fmt.Fprintln(stderr, "invoke:", err)
		return 1
	}
	defer s.Close()

	status := 0
	for i, event := range payloads {
		res, err := s.Invoke(ctx, event)
		if i == 0 {
			printColdStart(stderr, s.StartToFirstNext(), res.SinceStart)
		}
		if err != nil {
			var ie *runtimeapi.InitError
			if errors.As(err, &ie) {
				fmt.Fprintf(stderr, "invoke: init error: %s: %s (exit code %d)\n", ie.Type, ie.Message, ie.ExitCode)
			} else {
				fmt.Fprintln(stderr, "invoke:", err)
			}
			return 1 // the environment is gone: the remaining events cannot run
		}
		writePayload(stdout, res.Payload)
		if res.Err != nil {
			fmt.Fprintf(stderr, "invoke: function error (RequestId %s): %s\n", res.RequestID, res.Err)
			status = 1
		}
	}
	return status
}

func printColdStart(w io.Writer, toNext, toResponse time.Duration) {
	if toNext == 0 {
		return
	}
	fmt.Fprintf(w, "cold start: process start -> first /next %s", toNext.Round(10*time.Microsecond))
	if toResponse > 0 {
		fmt.Fprintf(w, ", -> first response %s", toResponse.Round(10*time.Microsecond))
	}
	fmt.Fprintln(w)
}

// writePayload prints JSON indented, anything else as is.
func writePayload(w io.Writer, p []byte) {
	var buf bytes.Buffer
	if json.Indent(&buf, p, "", "  ") == nil {
		p = buf.Bytes()
	}
	w.Write(p)
	if len(p) == 0 || p[len(p)-1] != '\n' {
		io.WriteString(w, "\n")
	}
}

// syncWriter lets several goroutines write one stream.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
