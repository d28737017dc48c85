package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

// These tests run the real bootstrap binaries (built as for Lambda, but for this machine) through
// the Runtime API harness, against moto_server and the Toss simulator: `sam local invoke`
// without Docker.

func TestMain(m *testing.M) { devenv.RunTests(m) }

var binaries struct {
	once sync.Once
	dir  string
	err  error
}

// binary builds the functions once per test run, with the Makefile's flags.
func binary(t *testing.T, fn string) string {
	t.Helper()
	binaries.once.Do(func() {
		binaries.dir, binaries.err = os.MkdirTemp("", "bootstrap-")
		if binaries.err != nil {
			return
		}
		for _, f := range []string{"status", "link", "unlink", "certcheck", "events"} {
			cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w",
				"-o", filepath.Join(binaries.dir, f, "bootstrap"), "./functions/"+f)
			cmd.Dir = filepath.Join("..", "..")
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := cmd.CombinedOutput(); err != nil {
				binaries.err = errors.New(string(out))
				return
			}
		}
	})
	if binaries.err != nil {
		t.Fatal(binaries.err)
	}
	return filepath.Join(binaries.dir, fn, "bootstrap")
}

// expected answers for every file in events/; a new file without an entry fails the test.
var expected = map[string]struct {
	status int
	body   string
}{
	"status.json":              {200, `{"isMapped":false}`},
	"status-base64.json":       {200, `{"isMapped":false}`},
	"status-missing-hash.json": {400, `"INVALID_REQUEST"`},
	"status-not-json.json":     {400, `"INVALID_REQUEST"`},
	"status-wrong-method.json": {405, `"METHOD_NOT_ALLOWED"`},
	"link.json":                {200, `{"success":true}`},
	"link-used-code.json":      {400, `"INVALID_AUTHORIZATION_CODE"`},
	"link-missing-code.json":   {400, `"INVALID_REQUEST"`},
	"link-too-large.json":      {413, `"PAYLOAD_TOO_LARGE"`},
	"unlink-get.json":          {200, `{"success":true}`},
	"unlink-post.json":         {200, `{"success":true}`},
	"unlink-console-test.json": {200, `{"success":true}`},
	"unlink-wrong-auth.json":   {401, `"UNAUTHORIZED"`},
	"unlink-no-auth.json":      {401, `"UNAUTHORIZED"`},
}

func session(t *testing.T, fn string, env []string) *runtimeapi.Session {
	t.Helper()
	s, err := runtimeapi.Start(context.Background(), runtimeapi.Options{Binary: binary(t, fn), Env: env, FunctionName: fn})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func invoke(t *testing.T, s *runtimeapi.Session, event []byte) (events.APIGatewayV2HTTPResponse, runtimeapi.Result) {
	t.Helper()
	res, err := s.Invoke(context.Background(), event)
	if err != nil {
		t.Fatalf("invoke: %v\nlogs:\n%s", err, s.Logs())
	}
	if res.Err != nil {
		t.Fatalf("function error: %v", res.Err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(res.Payload, &resp); err != nil {
		t.Fatalf("payload is not an HTTP API response: %s", res.Payload)
	}
	return resp, res
}

func TestEveryEventFileThroughItsRealBinary(t *testing.T) {
	files, err := filepath.Glob("../../events/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no events: %v", err)
	}
	sort.Strings(files)
	// One stack (table, secret, simulator) per function, so each file's answer does not depend on
	// the files of another function that ran before it.
	stacks := map[string]*devenv.Stack{}
	sessions := map[string]*runtimeapi.Session{}
	for _, f := range files {
		name := filepath.Base(f)
		want, ok := expected[name]
		if !ok {
			t.Errorf("%s has no expected answer in this test", name)
			continue
		}
		fn, _, _ := strings.Cut(strings.TrimSuffix(name, ".json"), "-")
		if sessions[fn] == nil {
			stacks[fn] = devenv.ForTest(t, devenv.Options{})
			sessions[fn] = session(t, fn, stacks[fn].Environ())
		}
		stack := stacks[fn]
		event, _ := os.ReadFile(f)
		event = bytes.ReplaceAll(event, []byte(CodePlaceholder),
			[]byte(stack.Sim.Authorize(tosssim.User{UserKey: SandboxUser}, "SANDBOX")))
		resp, res := invoke(t, sessions[fn], event)
		if resp.StatusCode != want.status || !strings.Contains(resp.Body, want.body) {
			t.Errorf("%s: %d %s, want %d with %s", name, resp.StatusCode, resp.Body, want.status, want.body)
		}
		if res.SinceStart > 0 {
			t.Logf("%s: cold start, process start to first response %v", fn, res.SinceStart)
		}
	}
	if len(sessions) != 3 {
		t.Errorf("events exercised %d functions, want 3", len(sessions))
	}
}

func TestTheBinariesTogetherRunTheFlow(t *testing.T) {
	stack := devenv.ForTest(t, devenv.Options{})
	status, link, unlink := session(t, "status", stack.Environ()), session(t, "link", stack.Environ()), session(t, "unlink", stack.Environ())
	read := func(name string) []byte {
		b, err := os.ReadFile("../../events/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return bytes.ReplaceAll(b, []byte(CodePlaceholder), []byte(stack.Sim.Authorize(tosssim.User{UserKey: SandboxUser}, "SANDBOX")))
	}
	steps := []struct {
		s          *runtimeapi.Session
		event, out string
	}{
		{status, "status.json", `{"isMapped":false}`},
		{link, "link.json", `{"success":true}`},
		{status, "status.json", `{"isMapped":true}`},
		{unlink, "unlink-wrong-auth.json", `"UNAUTHORIZED"`},
		{status, "status.json", `{"isMapped":true}`},
		{unlink, "unlink-get.json", `{"success":true}`},
		{status, "status.json", `{"isMapped":false}`},
		{link, "link.json", `{"success":true}`},
		{unlink, "unlink-post.json", `{"success":true}`},
		{status, "status-base64.json", `{"isMapped":false}`},
	}
	for i, st := range steps {
		resp, _ := invoke(t, st.s, read(st.event))
		if !strings.Contains(resp.Body, st.out) {
			t.Fatalf("step %d (%s): %s, want %s", i+1, st.event, resp.Body, st.out)
		}
	}
}

func TestAFunctionThatCannotInitialiseSaysWhyThroughInitError(t *testing.T) {
	stack := devenv.ForTest(t, devenv.Options{})
	without := func(name string) []string {
		var env []string
		for _, kv := range stack.Environ() {
			if !strings.HasPrefix(kv, name+"=") {
				env = append(env, kv)
			}
		}
		return env
	}
	for _, c := range []struct {
		fn, drop, message string
	}{
		{"status", "TABLE_NAME", "TABLE_NAME is not set"},
		{"link", "SECRET_ID", "SECRET_ID is not set"},
		{"unlink", "SECRET_ID", "SECRET_ID is not set"},
	} {
		s := session(t, c.fn, without(c.drop))
		_, err := s.Invoke(context.Background(), []byte(`{}`))
		var ie *runtimeapi.InitError
		if !errors.As(err, &ie) || ie.Type != "Runtime.InitError" || !strings.Contains(ie.Message, c.message) {
			t.Errorf("%s without %s: %v, want an init error saying %q", c.fn, c.drop, err, c.message)
		}
	}
}
