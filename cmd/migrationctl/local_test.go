package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localstate"
)

// startMakeRun builds and starts cmd/local (what `make run` runs) on free ports, with its state
// file in the test's directory, and stops it (Ctrl-C) when the test ends.
func startMakeRun(t *testing.T) (localstate.State, string) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "local")
	build := exec.Command("go", "build", "-o", bin, "./cmd/local")
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/local: %v\n%s", err, out)
	}
	var ports []string
	for range 3 {
		p, err := devenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, fmt.Sprintf("127.0.0.1:%d", p))
	}
	statePath := filepath.Join(dir, "local-stack.json")
	var log bytes.Buffer
	cmd := exec.Command(bin, "-addr", ports[0], "-sandbox", ports[1], "-toss-api", ports[2], "-state-file", statePath)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if _, err := os.Stat(statePath); !os.IsNotExist(err) {
			t.Errorf("make run left its state file behind after Ctrl-C (%v)", err)
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if s, err := localstate.Read(statePath); err == nil {
			return s, statePath
		}
		select {
		case err := <-exited:
			t.Fatalf("make run exited: %v\n%s", err, log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("make run wrote no state file within a minute:\n%s", log.String())
		}
	}
}

func post(t *testing.T, url, body string, header ...string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The "done when", against the stack `make run` starts: link a hash through the sandbox,
// see it with lookup, stats, export and coverage, unlink it and a never-linked user through the
// callback, and check the local secret.
func TestLocalTalksToTheStackMakeRunStartsWithNoOtherSetup(t *testing.T) {
	s, statePath := startMakeRun(t)
	if s.Table != "toss-migration-local" || !strings.HasPrefix(s.API, "http://127.0.0.1:") || s.SecretID == "" {
		t.Fatalf("state file %+v", s)
	}
	e := &env{t: t, vars: map[string]string{localstate.EnvPath: statePath, "USER": "tester"}}

	var code struct{ AuthorizationCode string }
	if err := json.Unmarshal([]byte(post(t, s.Sandbox+"/sandbox/authorize", `{"userKey":443731104}`)), &code); err != nil || code.AuthorizationCode == "" {
		t.Fatalf("sandbox code: %v", err)
	}
	if got := post(t, s.API+"/api/auth/migration/link",
		`{"hash":"done-when-hash","authorizationCode":"`+code.AuthorizationCode+`","referrer":"SANDBOX"}`); got != `{"success":true}` {
		t.Fatalf("link: %s", got)
	}

	if got := e.okJSON("--local", "lookup", "--hash", "done-when-hash"); get(got, "userKey") != "443731104" {
		t.Fatalf("lookup: %v", got)
	}
	if got := e.okJSON("--local", "stats"); get(got, "mapped") != 1.0 {
		t.Fatalf("stats: %v", got)
	}
	if out := e.ok("", "--local", "export"); !strings.Contains(out, `"hash":"done-when-hash","userKey":"443731104"`) {
		t.Fatalf("export: %s", out)
	}
	if got := e.okJSON("--local", "coverage", "--user-keys", writeList(t, "443731104\n")); get(got, "mapped") != 1.0 {
		t.Fatalf("coverage: %v", got)
	}
	if out := e.ok("", "--local", "check", "--probe"); !strings.HasSuffix(out, "check passed\n") {
		t.Fatalf("check: %s", out)
	}

	auth := []string{"Authorization", "Basic " + basic(devenv.DefaultBasicAuth)}
	for _, body := range []string{`{"userKey":443731104,"referrer":"UNLINK"}`, `{"userKey":555,"referrer":"WITHDRAWAL_TOSS"}`} {
		if got := post(t, s.API+"/api/auth/toss/unlink", body, auth...); got != `{"success":true}` {
			t.Fatalf("unlink %s: %s", body, got)
		}
	}
	if got := e.okJSON("--local", "coverage", "--user-keys", writeList(t, "443731104\n")); get(got, "mapped") != 0.0 {
		t.Fatalf("coverage after the unlink: %v", got)
	}

	if s.EventQueueURL == "" {
		oneLineError(t, e.ctl("", "--local", "events"), 1, "has no event queue")
		return
	}
	// The stack delivers events: UserLinked, then both UserUnlinked with their referrers.
	var types []string
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		types = types[:0]
		for _, line := range strings.Split(strings.TrimSpace(e.ok("", "--local", "--json", "events")), "\n") {
			var ev struct {
				DetailType string         `json:"detail-type"`
				Detail     map[string]any `json:"detail"`
			}
			if json.Unmarshal([]byte(line), &ev) == nil {
				types = append(types, fmt.Sprint(ev.DetailType, " ", ev.Detail["referrer"]))
			}
		}
		if len(types) >= 3 {
			break
		}
	}
	want := []string{"UserLinked <nil>", "UserUnlinked UNLINK", "UserUnlinked WITHDRAWAL_TOSS"}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("events %v, want %v", types, want)
	}
}

func writeList(t *testing.T, content string) string {
	p := filepath.Join(t.TempDir(), "list.txt")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func basic(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) }
