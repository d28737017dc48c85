package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tossgame/migration-server/shared/dev/devenv"
)

// startLocal runs the local server as `make run` does, every listener on a port the kernel picks
// (so tests can run beside each other and a developer's `make run`), until the test ends.
func startLocal(t *testing.T, tweak ...func(*settings)) (settings, endpoints, []byte) {
	t.Helper()
	s := settings{addr: "127.0.0.1:0", sandbox: "127.0.0.1:0", tossAPI: "127.0.0.1:0", basicAuth: devenv.DefaultBasicAuth}
	for _, f := range tweak {
		f(&s)
	}
	out, err := os.CreateTemp(t.TempDir(), "banner")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan endpoints, 1), make(chan error, 1)
	go func() { done <- run(ctx, s, out, ready) }()
	var at endpoints
	select {
	case at = <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("the local server did not start: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	banner, _ := os.ReadFile(out.Name())
	return s, at, banner
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
	s, at, banner := startLocal(t)
	script := WalkThrough(at.API, at.Sandbox, s.basicAuth)
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
	_, at, _ := startLocal(t)
	for i, want := range []string{`{"isMapped":true}`, `{"isMapped":true}`} {
		// The second run finds the hash mapped and skips appLogin, as the guide intends.
		out, err := exec.Command("node", "testdata/guide-client.mjs", at.API, at.Sandbox, "guide-hash", "443731199").CombinedOutput()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", i+1, err, out)
		}
		if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); lines[len(lines)-1] != want {
			t.Fatalf("run %d printed %s, want the hash mapped", i+1, out)
		}
	}
}

// `make run` delivers the studio's events to the queue it prints: the walk-through's link and
// unlink arrive there, in order, read with nothing but the printed addresses.
func TestTheWalkThroughsEventsReachThePrintedQueue(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl is needed for this test: apt-get install curl")
	}
	s, at, banner := startLocal(t)
	queue := regexp.MustCompile(`delivered by a rule to the SQS queue\n\s+(\S+)`).FindSubmatch(banner)
	endpoint := regexp.MustCompile(`moto_server\s+(\S+)`).FindSubmatch(banner)
	if queue == nil || endpoint == nil {
		t.Fatalf("the banner names no queue or endpoint:\n%s", banner)
	}
	if out, err := exec.Command("bash", "-euo", "pipefail", "-c", WalkThrough(at.API, at.Sandbox, s.basicAuth)).CombinedOutput(); err != nil {
		t.Fatalf("walk-through failed: %v\n%s", err, out)
	}
	ep := string(endpoint[1])
	client := sqs.NewFromConfig(aws.Config{Region: devenv.Region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		func(o *sqs.Options) { o.BaseEndpoint = &ep })
	var got []string
	deadline := time.Now().Add(2 * time.Minute) // ends a broken run; the verdict waits on the events
	for len(got) < 2 && time.Now().Before(deadline) {
		out, err := client.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(string(queue[1])), MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out.Messages {
			var ev struct {
				DetailType string `json:"detail-type"`
				Detail     struct {
					UserKey string  `json:"userKey"`
					Hash    *string `json:"hash"`
				} `json:"detail"`
			}
			json.Unmarshal([]byte(aws.ToString(m.Body)), &ev)
			got = append(got, fmt.Sprintf("%s %s %v", ev.DetailType, ev.Detail.UserKey, aws.ToString(ev.Detail.Hash)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	want := []string{"UserLinked 443731104 demo-hash-1", "UserUnlinked 443731104 demo-hash-1"}
	if !slices.Equal(got, want) {
		t.Fatalf("the queue holds %v, want %v", got, want)
	}
}
