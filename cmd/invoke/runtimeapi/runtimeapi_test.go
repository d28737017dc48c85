package runtimeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary doubles as an idle "runtime" process for the protocol
// tests: the test itself then talks to the Runtime API.
const idleEnv = "RUNTIMEAPI_TEST_IDLE"

var fixtureRoot string

func TestMain(m *testing.M) {
	if os.Getenv(idleEnv) == "1" {
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "runtimeapi-fixtures-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fixtureRoot = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var fixtureNames = []string{"echo", "fail", "initexit", "initerror", "sleep"}

var (
	buildOnce sync.Once
	buildErr  error
)

// fixture returns the path of testdata/<name> built as <dir>/<name>/bootstrap
// with -tags lambda.norpc (all fixtures are built once, in one go build).
func fixture(t *testing.T, name string) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(fixtureRoot, "out") + string(filepath.Separator)
		args := []string{"build", "-tags", "lambda.norpc", "-o", out}
		for _, n := range fixtureNames {
			args = append(args, "./testdata/"+n)
		}
		cmd := exec.Command(goTool, args...)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build fixtures: %v\n%s", err, b)
			return
		}
		for _, n := range fixtureNames {
			exe := n
			if runtime.GOOS == "windows" {
				exe += ".exe"
			}
			dst := filepath.Join(fixtureRoot, n)
			if err := os.MkdirAll(dst, 0o755); err != nil {
				buildErr = err
				return
			}
			if err := os.Rename(filepath.Join(out, exe), filepath.Join(dst, "bootstrap")); err != nil {
				buildErr = err
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(fixtureRoot, name, "bootstrap")
}

func start(t *testing.T, opt Options) *Session {
	t.Helper()
	s, err := Start(t.Context(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("logs:\n%s", s.Logs())
		}
	})
	return s
}

func invoke(t *testing.T, s *Session, event string) Result {
	t.Helper()
	res, err := s.Invoke(t.Context(), []byte(event))
	if err != nil {
		t.Fatalf("Invoke(%s): %v", event, err)
	}
	return res
}

var (
	uuidRE      = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	traceRE     = regexp.MustCompile(`^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$`)
	logStreamRE = regexp.MustCompile(`^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$`)
)

type echoReply struct {
	Event           json.RawMessage   `json:"event"`
	RequestID       string            `json:"requestId"`
	FunctionArn     string            `json:"functionArn"`
	DeadlineMs      int64             `json:"deadlineMs"`
	TraceID         string            `json:"traceId"`
	TraceIDContext  string            `json:"traceIdContext"`
	FunctionName    string            `json:"functionName"`
	FunctionVersion string            `json:"functionVersion"`
	MemoryLimitInMB int               `json:"memoryLimitInMB"`
	LogGroupName    string            `json:"logGroupName"`
	LogStreamName   string            `json:"logStreamName"`
	Cwd             string            `json:"cwd"`
	Env             map[string]string `json:"env"`
}

func TestEchoSeesLambdaContext(t *testing.T) {
	t.Parallel()
	bin := fixture(t, "echo")
	s := start(t, Options{
		Binary:       bin,
		FunctionName: "echo-fn",
		Timeout:      3 * time.Second,
		Env: []string{
			"ECHO_EXTRA=1",
			"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=256",
			"AWS_LAMBDA_RUNTIME_API=example.invalid:1", // reserved: Lambda's value wins
			"TZ=Asia/Seoul",
		},
	})

	before := time.Now()
	res := invoke(t, s, `{"hello":"world"}`)
	after := time.Now()
	if res.Err != nil {
		t.Fatalf("function error: %v", res.Err)
	}
	var r echoReply
	if err := json.Unmarshal(res.Payload, &r); err != nil {
		t.Fatalf("payload %s: %v", res.Payload, err)
	}
	if r.RequestID != res.RequestID || !uuidRE.MatchString(r.RequestID) {
		t.Errorf("request id: function saw %q, result has %q", r.RequestID, res.RequestID)
	}
	wantArn := "arn:aws:lambda:ap-northeast-2:123456789012:function:echo-fn"
	if r.FunctionArn != wantArn || s.FunctionArn() != wantArn {
		t.Errorf("function ARN = %q (session %q), want %q", r.FunctionArn, s.FunctionArn(), wantArn)
	}
	if lo, hi := before.Add(3*time.Second).UnixMilli(), after.Add(3*time.Second).UnixMilli(); r.DeadlineMs < lo || r.DeadlineMs > hi {
		t.Errorf("deadline %d not in [%d, %d]", r.DeadlineMs, lo, hi)
	}
	if !traceRE.MatchString(r.TraceID) || r.TraceIDContext != r.TraceID {
		t.Errorf("trace id %q (context %q)", r.TraceID, r.TraceIDContext)
	}
	if string(r.Event) != `{"hello":"world"}` {
		t.Errorf("event = %s", r.Event)
	}
	if r.FunctionName != "echo-fn" || r.FunctionVersion != "$LATEST" || r.MemoryLimitInMB != 256 ||
		r.LogGroupName != "/aws/lambda/echo-fn" || !logStreamRE.MatchString(r.LogStreamName) {
		t.Errorf("lambdacontext: name %q version %q memory %d group %q stream %q",
			r.FunctionName, r.FunctionVersion, r.MemoryLimitInMB, r.LogGroupName, r.LogStreamName)
	}
	taskRoot := filepath.Dir(bin)
	wantEnv := map[string]string{
		"AWS_LAMBDA_RUNTIME_API":          s.Addr(),
		"_HANDLER":                        "bootstrap",
		"AWS_LAMBDA_FUNCTION_NAME":        "echo-fn",
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/echo-fn",
		"AWS_LAMBDA_LOG_STREAM_NAME":      r.LogStreamName,
		"AWS_REGION":                      "ap-northeast-2",
		"AWS_DEFAULT_REGION":              "ap-northeast-2",
		"LAMBDA_TASK_ROOT":                taskRoot,
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"TZ":                              ":UTC",
		"ECHO_EXTRA":                      "1",
	}
	for k, want := range wantEnv {
		if got := r.Env[k]; got != want {
			t.Errorf("env %s = %q, want %q", k, got, want)
		}
	}
	if v, ok := r.Env["HOME"]; ok {
		t.Errorf("HOME=%q leaked from the harness environment", v)
	}
	if got, _ := filepath.EvalSymlinks(r.Cwd); got != mustEval(t, taskRoot) {
		t.Errorf("cwd = %q, want the task root %q", r.Cwd, taskRoot)
	}

	initDur := s.StartToFirstNext()
	if initDur <= 0 || res.SinceStart <= initDur || res.Elapsed <= 0 || res.Elapsed >= res.SinceStart {
		t.Errorf("timings: init %v, since start %v, elapsed %v", initDur, res.SinceStart, res.Elapsed)
	}

	res2 := invoke(t, s, `[1,2]`)
	var r2 echoReply
	if err := json.Unmarshal(res2.Payload, &r2); err != nil {
		t.Fatal(err)
	}
	if r2.RequestID != res2.RequestID || res2.RequestID == res.RequestID {
		t.Errorf("second request id %q (function saw %q), first %q", res2.RequestID, r2.RequestID, res.RequestID)
	}
	if res2.SinceStart != 0 {
		t.Errorf("warm invocation has SinceStart %v", res2.SinceStart)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	logs := string(s.Logs())
	for _, want := range []string{
		"START RequestId: " + res.RequestID + " Version: $LATEST",
		"echo: handling " + res.RequestID,
		"END RequestId: " + res.RequestID,
		"REPORT RequestId: " + res.RequestID,
		"echo: handling " + res2.RequestID,
		"REPORT RequestId: " + res2.RequestID,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	if n := strings.Count(logs, "Init Duration"); n != 1 {
		t.Errorf("%d REPORT lines with Init Duration, want 1 (cold only)", n)
	}
	if _, err := s.Invoke(t.Context(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close: %v, want ErrClosed", err)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestCallerRegionAndDefaultName(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: fixture(t, "echo"), Env: []string{"AWS_REGION=us-west-2"}})
	var r echoReply
	if err := json.Unmarshal(invoke(t, s, `{}`).Payload, &r); err != nil {
		t.Fatal(err)
	}
	// .../echo/bootstrap is named after its directory, as SAM build output is.
	if want := "arn:aws:lambda:us-west-2:123456789012:function:echo"; r.FunctionArn != want {
		t.Errorf("ARN %q, want %q", r.FunctionArn, want)
	}
	if r.Env["AWS_REGION"] != "us-west-2" || r.Env["AWS_DEFAULT_REGION"] != "us-west-2" || r.FunctionName != "echo" {
		t.Errorf("region %q default region %q name %q", r.Env["AWS_REGION"], r.Env["AWS_DEFAULT_REGION"], r.FunctionName)
	}
}

func TestFunctionErrorKeepsSession(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: fixture(t, "fail")})
	res := invoke(t, s, `{"mode":"error"}`)
	if res.Err == nil || res.Err.Type != "ValidationError" || res.Err.Message != "invalid field name" {
		t.Fatalf("Err = %#v, want ValidationError", res.Err)
	}
	var doc map[string]any
	if err := json.Unmarshal(res.Payload, &doc); err != nil || doc["errorType"] != "ValidationError" || doc["errorMessage"] != "invalid field name" {
		t.Errorf("error payload %s (%v)", res.Payload, err)
	}
	if res.SinceStart <= 0 {
		t.Errorf("cold invocation without SinceStart")
	}
	res = invoke(t, s, `{"mode":"ok"}`)
	if res.Err != nil || string(res.Payload) != `"ok"` {
		t.Errorf("after an error: payload %s err %v", res.Payload, res.Err)
	}
}

func TestPanicPostsErrorThenExits(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: fixture(t, "fail")})
	res := invoke(t, s, `{"mode":"panic"}`)
	if res.Err == nil || res.Err.Type != "string" || res.Err.Message != "boom" {
		t.Fatalf("Err = %#v, want a panic report", res.Err)
	}
	if !bytes.Contains(res.Payload, []byte(`"stackTrace"`)) {
		t.Errorf("panic payload has no stack trace: %s", res.Payload)
	}
	// aws-lambda-go exits (log.Fatalf, status 1) after reporting a panic.
	_, err := s.Invoke(t.Context(), []byte(`{}`))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 1 || ee.RequestID != "" {
		t.Fatalf("next Invoke: %v, want ExitError with status 1", err)
	}
}

func TestExitMidInvocation(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: fixture(t, "fail")})
	res, err := s.Invoke(t.Context(), []byte(`{"mode":"exit"}`))
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Invoke: %v, want *ExitError", err)
	}
	if ee.ExitCode != 3 || ee.RequestID != res.RequestID || res.RequestID == "" {
		t.Errorf("ExitError %+v, result request id %q", ee, res.RequestID)
	}
	if want := "RequestId: " + res.RequestID + " Error: Runtime exited with error: exit status 3"; err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestResponseTooLarge(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: fixture(t, "fail")})
	res := invoke(t, s, `{"mode":"big"}`)
	if res.Err == nil || res.Err.Type != "Function.ResponseSizeTooLarge" {
		t.Fatalf("Err = %#v, want Function.ResponseSizeTooLarge", res.Err)
	}
	// The runtime got a 413 and, being aws-lambda-go, exits with status 1.
	_, err := s.Invoke(t.Context(), []byte(`{}`))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != 1 {
		t.Errorf("Invoke after the 413: %v, want ExitError with status 1", err)
	}
	if logs := s.Logs(); !bytes.Contains(logs, []byte("unexpected status code: 413")) {
		t.Errorf("the runtime did not log the 413:\n%s", logs)
	}
}

func TestInitExitBeforeStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, mode, logged string
		code               int
	}{
		{"log.Fatal", "", "initexit: cannot load configuration", 1},
		{"panic", "panic", "panic: initexit: init panic", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := start(t, Options{Binary: fixture(t, "initexit"), Env: []string{"INIT_MODE=" + tc.mode}})
			_, err := s.Invoke(t.Context(), []byte(`{}`))
			var ie *InitError
			if !errors.As(err, &ie) {
				t.Fatalf("Invoke: %v, want *InitError", err)
			}
			want := InitError{Type: "Runtime.ExitError", Message: fmt.Sprintf("Runtime exited with error: exit status %d", tc.code), ExitCode: tc.code}
			if *ie != want {
				t.Errorf("InitError %+v, want %+v", *ie, want)
			}
			if err2 := s.Ready(t.Context()); err2 != err {
				t.Errorf("Ready after failed init: %v", err2)
			}
			if _, err2 := s.Invoke(t.Context(), nil); err2 != err {
				t.Errorf("second Invoke: %v, want the same InitError", err2)
			}
			if d := s.StartToFirstNext(); d != 0 {
				t.Errorf("StartToFirstNext = %v without any /next", d)
			}
			s.Close()
			if logs := string(s.Logs()); !strings.Contains(logs, tc.logged) || !strings.Contains(logs, "INIT_REPORT") {
				t.Errorf("logs lack %q / INIT_REPORT:\n%s", tc.logged, logs)
			}
		})
	}
}

func TestInitErrorPosted(t *testing.T) {
	t.Parallel()
	bin := fixture(t, "initerror")
	t.Run("missing setting", func(t *testing.T) {
		t.Parallel()
		s := start(t, Options{Binary: bin})
		err := s.Ready(t.Context())
		var ie *InitError
		if !errors.As(err, &ie) {
			t.Fatalf("Ready: %v, want *InitError", err)
		}
		want := InitError{Type: "Runtime.ConfigError", Message: "REQUIRED_SETTING is not set", ExitCode: 1}
		if *ie != want {
			t.Errorf("InitError %+v, want %+v", *ie, want)
		}
		if _, err2 := s.Invoke(t.Context(), []byte(`{}`)); err2 != err {
			t.Errorf("Invoke: %v, want the InitError", err2)
		}
		s.Close()
		if logs := s.Logs(); !bytes.Contains(logs, []byte("/init/error answered 202 Accepted")) {
			t.Errorf("the runtime did not get 202:\n%s", logs)
		}
	})
	t.Run("setting present", func(t *testing.T) {
		t.Parallel()
		s := start(t, Options{Binary: bin, Env: []string{"REQUIRED_SETTING=v1"}})
		if res := invoke(t, s, `{}`); res.Err != nil || string(res.Payload) != `"v1"` {
			t.Errorf("payload %s err %v", res.Payload, res.Err)
		}
	})
}

func TestTimeoutKillsProcess(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: fixture(t, "sleep"), Timeout: time.Second})
	// Init first, so that the process start (slow on a busy machine) is not inside the 1 s.
	if err := s.Ready(t.Context()); err != nil {
		t.Fatal(err)
	}
	res := invoke(t, s, `{"sleep":"10ms"}`)
	// The function's context deadline comes from Lambda-Runtime-Deadline-Ms: what it had left
	// when it started is at most the timeout, and more than nothing. (Not "exactly 1s": that
	// holds only if the dispatch takes under 50 ms.)
	m := regexp.MustCompile(`^"slept 10ms, had (.+)"$`).FindSubmatch(res.Payload)
	if res.Err != nil || m == nil {
		t.Fatalf("payload %s err %v", res.Payload, res.Err)
	}
	if left, err := time.ParseDuration(string(m[1])); err != nil || left <= 0 || left > time.Second {
		t.Errorf("the function had %s left, want (0, 1s]", m[1])
	}
	begin := time.Now()
	res, err := s.Invoke(t.Context(), []byte(`{"sleep":"1h"}`))
	var te *TimeoutError
	if !errors.As(err, &te) || te.RequestID != res.RequestID || te.Timeout != time.Second {
		t.Fatalf("Invoke: %v, want *TimeoutError", err)
	}
	// Only the lower bound is a fact; the TimeoutError already shows the hour was not waited.
	if d := time.Since(begin); d < time.Second {
		t.Errorf("timed out after %v, before the timeout", d)
	}
	_, err = s.Invoke(t.Context(), []byte(`{"sleep":"1ms"}`))
	var ee *ExitError
	if !errors.As(err, &ee) || ee.ExitCode != -1 {
		t.Errorf("Invoke after the kill: %v, want ExitError (killed)", err)
	}
	if logs := s.Logs(); !bytes.Contains(logs, []byte(res.RequestID+" Task timed out after 1.00 seconds")) {
		t.Errorf("logs lack the timeout line:\n%s", logs)
	}
}

func TestInitTimeout(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: os.Args[0], Env: []string{idleEnv + "=1"}, InitTimeout: 300 * time.Millisecond})
	err := s.Ready(t.Context())
	var ie *InitError
	if !errors.As(err, &ie) || ie.Type != "Sandbox.Timedout" || ie.ExitCode != -1 {
		t.Fatalf("Ready: %v, want a Sandbox.Timedout InitError", err)
	}
}

// TestRuntimeAPIProtocol plays the runtime itself against an idle process.
func TestRuntimeAPIProtocol(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: os.Args[0], Env: []string{idleEnv + "=1"}, FunctionName: "proto", Timeout: 5 * time.Second})
	base := "http://" + s.Addr() + "/2018-06-01/runtime"

	do := func(method, url string, body io.Reader, hdr map[string]string) (int, http.Header, string) {
		t.Helper()
		req, err := http.NewRequest(method, url, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, strings.TrimSpace(string(b))
	}
	expect := func(what string, gotCode int, gotBody string, code int, body string) {
		t.Helper()
		if gotCode != code || (body != "" && gotBody != body) {
			t.Errorf("%s: %d %s, want %d %s", what, gotCode, gotBody, code, body)
		}
	}
	const (
		accepted   = `{"status":"OK"}`
		invalidID  = `{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}`
		tooLarge   = `{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}`
		invalidSeq = `"errorType":"InvalidStateTransition"`
	)

	// Wrong methods.
	for _, c := range [][2]string{
		{"POST", "/invocation/next"},
		{"GET", "/invocation/x/response"},
		{"PUT", "/invocation/x/error"},
		{"GET", "/init/error"},
	} {
		code, _, _ := do(c[0], base+c[1], nil, nil)
		expect(c[0]+" "+c[1], code, "", http.StatusMethodNotAllowed, "")
	}
	// Nothing is in flight yet.
	code, _, body := do("POST", base+"/invocation/nope/response", strings.NewReader("x"), nil)
	expect("response for an unknown id", code, body, http.StatusBadRequest, invalidID)

	// An event too large for Lambda's Invoke never reaches the runtime.
	if _, err := s.Invoke(t.Context(), make([]byte, MaxEventSize+1)); err == nil {
		t.Errorf("oversized event accepted")
	}
	// Nobody calls /next: the caller's context ends the wait.
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	if _, err := s.Invoke(ctx, []byte(`{}`)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Invoke without a runtime: %v", err)
	}
	cancel()

	type outcome struct {
		res Result
		err error
	}
	// next invokes event and plays /next; it returns the headers the runtime
	// got and a function waiting for the Invoke outcome.
	next := func(event string) (http.Header, string, func() outcome) {
		t.Helper()
		ch := make(chan outcome, 1)
		go func() {
			res, err := s.Invoke(t.Context(), []byte(event))
			ch <- outcome{res, err}
		}()
		code, hdr, body := do("GET", base+"/invocation/next", nil, nil)
		if code != http.StatusOK {
			t.Fatalf("/next: %d %s", code, body)
		}
		return hdr, body, func() outcome { return <-ch }
	}

	// 1: headers; a response over 6 MB gets 413 and fails the invocation.
	before := time.Now()
	hdr, body, wait := next(`{"n":1}`)
	after := time.Now()
	id := hdr.Get(HeaderRequestID)
	if body != `{"n":1}` || !uuidRE.MatchString(id) || hdr.Get("Content-Type") != "application/json" ||
		hdr.Get(HeaderFunctionArn) != "arn:aws:lambda:ap-northeast-2:123456789012:function:proto" ||
		!traceRE.MatchString(hdr.Get(HeaderTraceID)) {
		t.Errorf("/next: body %s headers %v", body, hdr)
	}
	var deadline int64
	fmt.Sscan(hdr.Get(HeaderDeadlineMs), &deadline)
	if lo, hi := before.Add(5*time.Second).UnixMilli(), after.Add(5*time.Second).UnixMilli(); deadline < lo || deadline > hi {
		t.Errorf("deadline %d not in [%d, %d]", deadline, lo, hi)
	}
	code, _, body = do("GET", base+"/invocation/next", nil, nil)
	expect("/next during an invocation", code, "", http.StatusForbidden, "")
	if !strings.Contains(body, invalidSeq) {
		t.Errorf("/next during an invocation: %s", body)
	}
	code, _, body = do("POST", base+"/init/error", strings.NewReader(`{}`), nil)
	expect("/init/error after init", code, "", http.StatusForbidden, "")
	if !strings.Contains(body, invalidSeq) {
		t.Errorf("/init/error after init: %s", body)
	}
	code, _, body = do("POST", base+"/invocation/"+id+"x/response", strings.NewReader(`1`), nil)
	expect("response for another id", code, body, http.StatusBadRequest, invalidID)
	code, _, body = do("POST", base+"/invocation/"+id+"/response", bytes.NewReader(make([]byte, MaxResponseSize+1)), nil)
	expect("oversized response", code, body, http.StatusRequestEntityTooLarge, tooLarge)
	out := wait()
	if out.err != nil || out.res.RequestID != id || out.res.Err == nil || out.res.Err.Type != "Function.ResponseSizeTooLarge" {
		t.Errorf("oversized response outcome: %+v %v", out.res, out.err)
	}
	if init := s.StartToFirstNext(); init <= 0 || out.res.SinceStart <= init {
		t.Errorf("cold timings: init %v, since start %v", init, out.res.SinceStart)
	}

	// 2: a response exactly at the limit is fine; then the id is spent.
	hdr, _, wait = next(`2`)
	id = hdr.Get(HeaderRequestID)
	big := bytes.Repeat([]byte("y"), MaxResponseSize)
	code, _, body = do("POST", base+"/invocation/"+id+"/response", bytes.NewReader(big), nil)
	expect("response", code, body, http.StatusAccepted, accepted)
	code, _, body = do("POST", base+"/invocation/"+id+"/response", strings.NewReader(`1`), nil)
	expect("second response", code, body, http.StatusBadRequest, invalidID)
	code, _, body = do("POST", base+"/invocation/"+id+"/error", strings.NewReader(`{}`), nil)
	expect("error after response", code, body, http.StatusBadRequest, invalidID)
	out = wait()
	if out.err != nil || out.res.Err != nil || !bytes.Equal(out.res.Payload, big) || out.res.Elapsed <= 0 || out.res.SinceStart != 0 {
		t.Errorf("response outcome: err %v, function error %v, %d bytes, elapsed %v, since start %v",
			out.err, out.res.Err, len(out.res.Payload), out.res.Elapsed, out.res.SinceStart)
	}

	// 3: /error; the body's errorType wins over the header.
	hdr, _, wait = next(`3`)
	code, _, body = do("POST", base+"/invocation/"+hdr.Get(HeaderRequestID)+"/error",
		strings.NewReader(`{"errorMessage":"bad","errorType":"MyError","stackTrace":["a"]}`),
		map[string]string{HeaderErrorType: "Runtime.Other", "Content-Type": "application/json"})
	expect("error", code, body, http.StatusAccepted, accepted)
	if out = wait(); out.err != nil || out.res.Err == nil || *out.res.Err != (FunctionError{Type: "MyError", Message: "bad"}) {
		t.Errorf("error outcome: %+v %v", out.res.Err, out.err)
	}

	// 4: /error with a non-JSON body: the header gives the type.
	hdr, _, wait = next(`4`)
	code, _, body = do("POST", base+"/invocation/"+hdr.Get(HeaderRequestID)+"/error",
		strings.NewReader("plain failure"), map[string]string{HeaderErrorType: "Runtime.Plain"})
	expect("plain error", code, body, http.StatusAccepted, accepted)
	if out = wait(); out.err != nil || out.res.Err == nil || *out.res.Err != (FunctionError{Type: "Runtime.Plain", Message: "plain failure"}) {
		t.Errorf("plain error outcome: %+v %v", out.res.Err, out.err)
	}
}

// TestInitErrorProtocol: /init/error is accepted once, during init; the
// process is then discarded.
func TestInitErrorProtocol(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Binary: os.Args[0], Env: []string{idleEnv + "=1"}})
	url := "http://" + s.Addr() + "/2018-06-01/runtime/init/error"
	post := func() (int, string) {
		req, _ := http.NewRequest("POST", url, strings.NewReader(`{"errorMessage":"no config","errorType":"Init.Config"}`))
		req.Header.Set(HeaderErrorType, "Init.Config")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := post(); code != http.StatusAccepted || body != `{"status":"OK"}` {
		t.Errorf("/init/error: %d %s", code, body)
	}
	if code, _ := post(); code != http.StatusForbidden {
		t.Errorf("second /init/error: %d", code)
	}
	// The idle process does not exit by itself: the harness kills it.
	err := s.Ready(t.Context())
	var ie *InitError
	if !errors.As(err, &ie) || *ie != (InitError{Type: "Init.Config", Message: "no config", ExitCode: -1}) {
		t.Fatalf("Ready: %v", err)
	}
}

func TestLambdaEnv(t *testing.T) {
	env, region, memory := lambdaEnv([]string{"A=1", "AWS_DEFAULT_REGION=eu-west-1", "_HANDLER=x", "B=2=3"}, "127.0.0.1:9", "fn", "/task")
	if region != "eu-west-1" || memory != 128 {
		t.Errorf("region %q memory %d", region, memory)
	}
	for _, want := range []string{"A=1", "B=2=3", "AWS_REGION=eu-west-1", "AWS_DEFAULT_REGION=eu-west-1", "_HANDLER=bootstrap",
		"AWS_LAMBDA_RUNTIME_API=127.0.0.1:9", "LAMBDA_TASK_ROOT=/task", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128"} {
		if !slices.Contains(env, want) {
			t.Errorf("env lacks %q: %q", want, env)
		}
	}
	if slices.Contains(env, "_HANDLER=x") || slices.Contains(env, "AWS_DEFAULT_REGION=ap-northeast-2") {
		t.Errorf("caller's reserved variable kept: %q", env)
	}
	if got := defaultFunctionName(filepath.Join("build", "MyFunction", "bootstrap")); got != "MyFunction" {
		t.Errorf("default name %q", got)
	}
	if got := defaultFunctionName(filepath.Join("bin", "orders")); got != "orders" {
		t.Errorf("default name %q", got)
	}
}
