package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/metrics/emftest"
)

// `make invoke FN=link EVENT=events/link.json` is `run` with these arguments after `make host`:
// what it prints on stderr (the function's log) must be EMF that CloudWatch accepts, and say
// that the link linked.
func TestMakeInvokeOfALinkPrintsValidEMF(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := run([]string{"-name", "link", "-binary", binary(t, "link"), "-event", "../../events/link.json"}, &stdout, &stderr)
	if code != 0 || !strings.Contains(stdout.String(), `\"success\":true`) {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout.String(), stderr.String())
	}
	got, err := emftest.ParseLog(stderr.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	want := "TossMigration/Requests[Route=link,Outcome=linked]=1 Count"
	if g := emftest.Strings(got); !slices.Contains(g, want) {
		t.Errorf("CloudWatch would extract %v, want %s among them\nstderr:\n%s", g, want, stderr.String())
	}
	// The metrics ride on the request's own line, which Lambda's JSON log format keeps as it is
	// and which carries the request id.
	var line map[string]any
	for _, l := range bytes.Split(stderr.Bytes(), []byte("\n")) {
		if emftest.IsEMF(l) && json.Unmarshal(l, &line) == nil && line["Requests"] != nil {
			break
		}
		line = nil
	}
	if line == nil || line["message"] != "request" || line["route"] != "link" || line["status"] != 200.0 || line["requestId"] == "" {
		t.Errorf("the request line is %v", line)
	}
}

func TestTheCertificateCheckBinaryPublishesDaysLeftOnASchedule(t *testing.T) {
	stack := devenv.ForTest(t, devenv.Options{})
	s := session(t, "certcheck", stack.Environ())
	for _, name := range []string{"schedule.json", "deploy.json"} {
		ev, err := os.ReadFile("../../events/certcheck/" + name)
		if err != nil {
			t.Fatal(err)
		}
		res, err := s.Invoke(context.Background(), ev)
		if err != nil || res.Err != nil {
			t.Fatalf("%s: %v %v\n%s", name, err, res.Err, s.Logs())
		}
	}
	s.Close() // the process's last lines are copied once it has exited
	got, err := emftest.ParseLog(s.Logs())
	if err != nil {
		t.Fatal(err)
	}
	var days, least, fetches int
	for _, d := range got {
		switch {
		case d.Name == "CertificateDaysLeft" && strings.HasPrefix(d.Dims, "Certificate=") && d.Value > 300:
			days++ // devcert issues a year's validity
		case d.Name == "CertificateDaysLeft" && d.Dims == "":
			least++
		case d.Name == "SecretRefreshes" && d.Dims == "Function=certcheck":
			fetches++
		}
	}
	if days != 2 || least != 2 || fetches != 2 {
		t.Errorf("two checks gave %d per-certificate values, %d least values and %d secret fetches, want 2 of each: %v",
			days, least, fetches, emftest.Strings(got))
	}
}

// A panic in a handler must reach Lambda as an invocation error, which is what the function's
// Errors metric counts, and leave the process serving: aws-lambda-go would exit on an
// unrecovered one (runtimeapi's TestPanicPostsErrorThenExits), costing a cold start.
func TestARecoveredPanicIsALambdaErrorAndTheProcessLives(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "panicfn", "bootstrap")
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-trimpath", "-o", bin, "./cmd/invoke/testdata/panicfn")
	cmd.Dir = filepath.Join("..", "..")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	s, err := runtimeapi.Start(context.Background(), runtimeapi.Options{Binary: bin,
		Env: []string{"AWS_LAMBDA_LOG_FORMAT=JSON", "AWS_LAMBDA_LOG_LEVEL=INFO"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	event, err := os.ReadFile("../../events/status.json")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for i := range 2 {
		res, err := s.Invoke(context.Background(), event)
		var exit *runtimeapi.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("invocation %d: the process exited: %v", i+1, err)
		}
		if err != nil || res.Err == nil || res.Err.Type != "panicError" {
			t.Fatalf("invocation %d: %v, function error %v; want a panicError reported to /invocation/error", i+1, err, res.Err)
		}
		if strings.Contains(res.Err.Message, "demo-hash-1") {
			t.Errorf("Lambda's error payload quotes the panic's value: %s", res.Err.Message)
		}
		ids = append(ids, res.RequestID)
	}
	s.Close() // the process's last lines are copied once it has exited
	logs := s.Logs()
	var panics int
	for _, l := range bytes.Split(logs, []byte("\n")) {
		var line map[string]any
		if json.Unmarshal(l, &line) != nil || line["panic"] == nil {
			continue
		}
		panics++
		if line["level"] != "ERROR" || !slices.Contains(ids, line["requestId"].(string)) ||
			!strings.Contains(line["stack"].(string), "panicky.Status") {
			t.Errorf("panic line %v, want ERROR with the request id and the stack", line)
		}
	}
	if panics != 2 {
		t.Errorf("%d panic lines for two panics, want one each:\n%s", panics, logs)
	}
	got, err := emftest.ParseLog(logs)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"TossMigration/Panics[Route=status]=1 Count", "TossMigration/Panics[Route=status]=1 Count",
		"TossMigration/Requests[Route=status,Outcome=internal_error]=1 Count", "TossMigration/Requests[Route=status,Outcome=internal_error]=1 Count"}
	if g := emftest.Strings(got); !slices.Equal(g, want) {
		t.Errorf("CloudWatch would extract %v, want %v", g, want)
	}
}
