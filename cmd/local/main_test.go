package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/tossgame/migration-server/shared/dev/devenv"
)

// startLocal runs the local server as `make run` does, on free ports (so tests can run beside a
// developer's `make run`), until the test ends.
func startLocal(t *testing.T) (settings, string, []byte) {
	t.Helper()
	s := freeSettings(t)
	out, err := os.CreateTemp(t.TempDir(), "banner")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() { done <- run(ctx, s, out, ready) }()
	var base string
	select {
	case base = <-ready:
	case err := <-done:
		t.Fatalf("the local server did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	banner, _ := os.ReadFile(out.Name())
	return s, base, banner
}

// freeSettings are make run's settings on free ports.
func freeSettings(t *testing.T) settings {
	t.Helper()
	ports := make([]int, 3)
	for i := range ports {
		p, err := devenv.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = p
	}
	return settings{
		addr:      fmt.Sprintf("127.0.0.1:%d", ports[0]),
		sandbox:   fmt.Sprintf("127.0.0.1:%d", ports[1]),
		tossAPI:   fmt.Sprintf("127.0.0.1:%d", ports[2]),
		basicAuth: devenv.DefaultBasicAuth,
	}
}

// A start that fails after the API port is taken gives the port back, whichever step failed.
func TestAFailedStartFreesTheAPIPort(t *testing.T) {
	cases := []struct {
		name string
		prep func(t *testing.T, s *settings) // makes the start fail
		want string                          // in the error
	}{
		{"a bad setting", func(t *testing.T, _ *settings) { t.Setenv("SECRET_TTL", "soon") }, "SECRET_TTL"},
		{"the simulator's port is busy", func(t *testing.T, s *settings) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			s.tossAPI = ln.Addr().String()
		}, "address already in use"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The simulator's ports are the kernel's choice (no window for another process to take
			// them); only the API port is chosen first, as the check below needs it.
			s := freeSettings(t)
			s.sandbox, s.tossAPI = "", ""
			c.prep(t, &s)
			out, err := os.CreateTemp(t.TempDir(), "banner")
			if err != nil {
				t.Fatal(err)
			}
			err = run(context.Background(), s, out, nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("run: %v, want an error naming %s", err, c.want)
			}
			// run has returned: its listener must be closed now, not eventually.
			ln, err := net.Listen("tcp", s.addr)
			if err != nil {
				t.Fatalf("the API port is still taken after the failed start: %v", err)
			}
			ln.Close()
		})
	}
}

// The walk-through `make run` prints must work as printed: run it with bash and curl.
func TestTheWalkThroughWorksAsPrinted(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed for this test: apt-get install curl")
	}
	s, base, banner := startLocal(t)
	script := WalkThrough(base, "http://"+s.sandbox, s.basicAuth)
	if !strings.Contains(string(banner), script) {
		t.Fatalf("the banner does not show the walk-through:\n%s", banner)
	}
	got, err := exec.Command("bash", "-euo", "pipefail", "-c", script).CombinedOutput()
	if err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, got)
	}
	want := "{\"isMapped\":false}\n{\"success\":true}\n{\"isMapped\":true}\n{\"success\":true}\n{\"isMapped\":false}\n"
	if string(got) != want {
		t.Fatalf("walk-through printed\n%s\nwant\n%s", got, want)
	}
}

// README shows the walk-through exactly as `make run` prints it with its default ports.
func TestREADMEShowsTheWalkThroughAsPrinted(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	script := WalkThrough("http://127.0.0.1:3000", "http://127.0.0.1:3001", devenv.DefaultBasicAuth)
	if !strings.Contains(string(readme), strings.TrimSpace(script)) {
		t.Fatalf("README.md does not contain the walk-through as printed:\n%s", script)
	}
}

// A newcomer's client written from the migration guide's sample code works unchanged.
func TestTheGuidesSampleClientLinksAgainstTheLocalServer(t *testing.T) {
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node (18 or later) is needed for this test: apt-get install nodejs")
	}
	s, base, _ := startLocal(t)
	for i, want := range []string{`{"isMapped":true}`, `{"isMapped":true}`} {
		// The second run finds the hash mapped and skips appLogin, as the guide intends.
		out, err := exec.Command("node", "testdata/guide-client.mjs", base, "http://"+s.sandbox, "guide-hash", "443731199").CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); lines[len(lines)-1] != want {
			t.Fatalf("run %d printed %s, want the hash mapped", i+1, out)
		}
	}
}
