// Package runtimeapi runs a Lambda "bootstrap" binary (a custom runtime such as a Go program built
// with aws-lambda-go and -tags lambda.norpc) as a child process and plays the AWS Lambda Runtime
// API for it, as `sam local invoke` does, without Docker.
//
// A Session is one execution environment: one process, started by Start, serving invocations one
// at a time through Invoke, and torn down by Close. Like Lambda, the harness never restarts the
// process: once it has exited (crash, timeout, failed init) every later Invoke reports that.
//
// The endpoints, headers, status codes and error bodies follow the Runtime API as Lambda and its
// runtime interface emulator serve it: /invocation/next, /invocation/{id}/response and /error,
// /init/error. Extensions are not served (aws-lambda-go's WithEnableSIGTERM then only logs a
// warning), nor are streamed responses.
package runtimeapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Limits and defaults, as in AWS Lambda.
const (
	// MaxResponseSize is the largest body a runtime may post to /invocation/{id}/response,
	// /invocation/{id}/error or /init/error (6 MiB + 100 bytes); larger bodies get 413.
	MaxResponseSize = 6*1024*1024 + 100
	// MaxEventSize is the largest event Invoke accepts (a synchronous Invoke's limit).
	MaxEventSize = 6 * 1024 * 1024

	DefaultTimeout     = 10 * time.Second // per-invocation deadline
	DefaultInitTimeout = 10 * time.Second // Lambda's init phase limit
	DefaultRegion      = "ap-northeast-2"
	DefaultMemorySize  = 128
	// AccountID is the account used in the invoked function ARN.
	AccountID = "123456789012"

	apiPrefix      = "/2018-06-01/runtime"
	initErrorGrace = time.Second // how long a runtime that posted /init/error may take to exit
)

// Header names of the Runtime API.
const (
	HeaderRequestID   = "Lambda-Runtime-Aws-Request-Id"
	HeaderDeadlineMs  = "Lambda-Runtime-Deadline-Ms"
	HeaderFunctionArn = "Lambda-Runtime-Invoked-Function-Arn"
	HeaderTraceID     = "Lambda-Runtime-Trace-Id"
	HeaderErrorType   = "Lambda-Runtime-Function-Error-Type"
)

// ErrClosed is returned by Invoke after Close.
var ErrClosed = errors.New("runtimeapi: session closed")

// Options configure a Session.
type Options struct {
	// Binary is the path of the bootstrap executable. Its directory becomes LAMBDA_TASK_ROOT and
	// the working directory of the process.
	Binary string
	// Env is the function's environment ("K=V"). The process gets exactly this plus what Lambda
	// sets; the caller's own environment is not inherited. AWS_REGION, AWS_DEFAULT_REGION and
	// AWS_LAMBDA_FUNCTION_MEMORY_SIZE are taken from here when present; Lambda's other reserved
	// variables always win.
	Env []string
	// FunctionName defaults to the binary's name, or to the name of its directory when the binary
	// is called "bootstrap" (as in .aws-sam/build/<Function>/bootstrap).
	FunctionName string
	// Timeout is the per-invocation deadline (default 10s).
	Timeout time.Duration
	// InitTimeout bounds the time from process start to the first /invocation/next (default 10s).
	InitTimeout time.Duration
	// Logs receives the process's stdout and stderr and the harness's START/END/REPORT lines.
	// When nil they are kept in memory (see Session.Logs).
	Logs io.Writer
}

// Result is the outcome of one invocation that the runtime answered.
type Result struct {
	RequestID string
	// Payload is the body the function posted: its response, or the error document
	// ({"errorMessage","errorType",...}) when Err is set, like the payload of Lambda's Invoke.
	Payload []byte
	// Err is set when the function reported an error (/invocation/{id}/error, or a response over
	// MaxResponseSize).
	Err *FunctionError
	// Elapsed runs from handing the event out (/next) to the response.
	Elapsed time.Duration
	// SinceStart is set on the first (cold) invocation only: from the process start to its response.
	SinceStart time.Duration
}

// FunctionError is the error a function reported for an invocation.
type FunctionError struct {
	Type    string // errorType, e.g. "errorString" or "Function.ResponseSizeTooLarge"
	Message string // errorMessage
}

func (e *FunctionError) Error() string {
	if e.Type == "" {
		return e.Message
	}
	return e.Type + ": " + e.Message
}

// InitError reports a failed init phase: the payload the runtime posted to /runtime/init/error,
// or the process exiting (Type "Runtime.ExitError") or timing out (Type "Sandbox.Timedout")
// before its first /invocation/next.
type InitError struct {
	Type    string
	Message string
	// ExitCode of the process; -1 when it was killed by a signal (for instance by the harness,
	// after an /init/error post or an init timeout).
	ExitCode int
}

func (e *InitError) Error() string { return fmt.Sprintf("init failed: %s: %s", e.Type, e.Message) }

// ExitError reports that the process exited while an invocation was in flight (RequestID set) or
// before Invoke was called (RequestID empty). Lambda reports this as a Runtime.ExitError.
type ExitError struct {
	RequestID string
	ExitCode  int    // -1 when killed by a signal
	Status    string // "exit status 2", "signal: killed"
}

func (e *ExitError) Error() string {
	msg := "Runtime exited with error: " + e.Status
	if e.ExitCode == 0 {
		msg = "Runtime exited without providing a reason"
	}
	if e.RequestID != "" {
		return "RequestId: " + e.RequestID + " Error: " + msg
	}
	return msg
}

// TimeoutError reports an invocation that passed its deadline without an answer. The process has
// been killed, as Lambda does.
type TimeoutError struct {
	RequestID string
	Timeout   time.Duration
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", e.RequestID, e.Timeout.Seconds())
}

// Session is one running bootstrap process and the Runtime API it talks to.
type Session struct {
	name, arn  string
	memory     int
	timeout    time.Duration
	initTO     time.Duration
	logs       *lockedWriter
	buf        *bytes.Buffer // when Options.Logs is nil
	srv        *http.Server
	addr       string
	cmd        *exec.Cmd
	startedAt  time.Time
	events     chan *invocation
	ready      chan struct{} // closed at the first /invocation/next
	exited     chan struct{} // closed when the process has exited
	stop       chan struct{} // closed by Close
	closeOnce  sync.Once
	killOnce   sync.Once
	invokeMu   sync.Mutex // one invocation at a time
	stopCtxMon func() bool

	mu          sync.Mutex
	firstNextAt time.Time
	current     *invocation // handed out, not answered yet
	posted      *InitError  // /init/error payload
	initTimeout bool
	initErr     *InitError
	coldUsed    bool // the cold invocation has been handed out
	state       *os.ProcessState
}

type invocation struct {
	id       string
	event    []byte
	deadline time.Time
	done     chan struct{} // closed once answered

	// guarded by Session.mu
	start, end time.Time
	answered   bool
	payload    []byte
	ferr       *FunctionError
}

// Start serves the Runtime API on 127.0.0.1 and starts the binary. It does not wait for the
// function's init; Invoke (or Ready) does. Cancelling ctx kills the process; Close must be called
// in any case.
func Start(ctx context.Context, opt Options) (*Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if opt.Binary == "" {
		return nil, errors.New("runtimeapi: no binary")
	}
	bin, err := filepath.Abs(opt.Binary)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("runtimeapi: %w", err)
	} else if fi.IsDir() {
		return nil, fmt.Errorf("runtimeapi: %s is a directory", bin)
	}
	s := &Session{
		name:    opt.FunctionName,
		timeout: cmp(opt.Timeout, DefaultTimeout),
		initTO:  cmp(opt.InitTimeout, DefaultInitTimeout),
		events:  make(chan *invocation),
		ready:   make(chan struct{}),
		exited:  make(chan struct{}),
		stop:    make(chan struct{}),
	}
	if s.name == "" {
		s.name = defaultFunctionName(bin)
	}
	out := opt.Logs
	if out == nil {
		s.buf = new(bytes.Buffer)
		out = s.buf
	}
	s.logs = &lockedWriter{w: out}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtimeapi: %w", err)
	}
	s.addr = ln.Addr().String()
	s.srv = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: log.New(io.Discard, "", 0)}

	taskRoot := filepath.Dir(bin)
	env, region, memory := lambdaEnv(opt.Env, s.addr, s.name, taskRoot)
	s.memory = memory
	s.arn = fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", region, AccountID, s.name)

	cmd := exec.Command(bin)
	cmd.Env, cmd.Dir = env, taskRoot
	cmd.Stdout, cmd.Stderr = s.logs, s.logs // the same writer for both: one pipe, one copier
	cmd.WaitDelay = time.Second             // do not hang on pipes held by grandchildren
	s.cmd = cmd
	s.startedAt = time.Now()
	if err := cmd.Start(); err != nil {
		ln.Close()
		return nil, fmt.Errorf("runtimeapi: start %s: %w", bin, err)
	}
	go func() {
		_ = cmd.Wait()
		s.mu.Lock()
		s.state = cmd.ProcessState
		s.mu.Unlock()
		close(s.exited)
	}()
	s.stopCtxMon = context.AfterFunc(ctx, s.kill)
	// Serve only now that s is complete: the handlers read it. The runtime's first connections
	// wait in the listen backlog meanwhile.
	go func() { _ = s.srv.Serve(ln) }() // ends with Close
	return s, nil
}

func cmp(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// Addr is the Runtime API address given to the process (AWS_LAMBDA_RUNTIME_API).
func (s *Session) Addr() string { return s.addr }

// FunctionArn is the ARN handed to the function as Lambda-Runtime-Invoked-Function-Arn.
func (s *Session) FunctionArn() string { return s.arn }

// StartToFirstNext is the init duration: from the process start until its first
// /invocation/next; zero while that has not happened.
func (s *Session) StartToFirstNext() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstNextAt.IsZero() {
		return 0
	}
	return s.firstNextAt.Sub(s.startedAt)
}

// Logs returns what has been logged so far when Options.Logs was nil.
func (s *Session) Logs() []byte {
	if s.buf == nil {
		return nil
	}
	s.logs.mu.Lock()
	defer s.logs.mu.Unlock()
	return bytes.Clone(s.buf.Bytes())
}

// Ready waits for the end of the init phase: nil once the runtime has called /invocation/next,
// an *InitError if the init failed or timed out.
func (s *Session) Ready(ctx context.Context) error {
	select {
	case <-s.ready:
		return nil
	default:
	}
	timer := time.NewTimer(time.Until(s.startedAt.Add(s.initTO)))
	defer timer.Stop()
	select {
	case <-s.ready:
		return nil
	case <-s.exited:
	case <-timer.C:
		s.mu.Lock()
		s.initTimeout = s.firstNextAt.IsZero()
		s.mu.Unlock()
		s.kill()
		<-s.exited
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return ErrClosed
	}
	select {
	case <-s.ready: // reached /next, then exited: not an init failure
		return nil
	default:
	}
	return s.initFailure()
}

// initFailure builds (once) the *InitError of a process that exited before its first /next.
func (s *Session) initFailure() *InitError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initErr != nil {
		return s.initErr
	}
	code, status := exitStatus(s.state)
	e := &InitError{ExitCode: code}
	switch {
	case s.posted != nil:
		e.Type, e.Message = s.posted.Type, s.posted.Message
	case s.initTimeout:
		e.Type, e.Message = "Sandbox.Timedout", fmt.Sprintf("Init phase timed out after %.2f seconds", s.initTO.Seconds())
	default:
		e.Type, e.Message = "Runtime.ExitError", (&ExitError{ExitCode: code, Status: status}).Error()
	}
	s.initErr = e
	s.logf("INIT_REPORT Init Duration: %.2f ms\tPhase: init\tStatus: error\tError Type: %s\n", ms(time.Since(s.startedAt)), e.Type)
	return e
}

func (s *Session) exitError(requestID string) *ExitError {
	s.mu.Lock()
	defer s.mu.Unlock()
	code, status := exitStatus(s.state)
	return &ExitError{RequestID: requestID, ExitCode: code, Status: status}
}

// Invoke hands event to the function and waits for its answer. A function error is a Result with
// Err set and a nil error. The error is non-nil for harness-level failures: *InitError (init
// failed), *ExitError (the process exited), *TimeoutError (no answer before the deadline; the
// process is killed), ErrClosed, or ctx's error (the process is killed if the event was already
// handed out). Invocations are serialized.
func (s *Session) Invoke(ctx context.Context, event []byte) (Result, error) {
	s.invokeMu.Lock()
	defer s.invokeMu.Unlock()
	select {
	case <-s.stop:
		return Result{}, ErrClosed
	default:
	}
	if len(event) > MaxEventSize {
		return Result{}, fmt.Errorf("runtimeapi: event of %d bytes: request must be smaller than %d bytes for the InvokeFunction operation", len(event), MaxEventSize)
	}
	if err := s.Ready(ctx); err != nil {
		return Result{}, err
	}
	select {
	case <-s.exited:
		return Result{}, s.exitError("")
	default:
	}

	inv := &invocation{id: newUUID(), event: event, deadline: time.Now().Add(s.timeout), done: make(chan struct{})}
	timer := time.NewTimer(s.timeout)
	defer timer.Stop()
	s.logf("START RequestId: %s Version: $LATEST\n", inv.id)
	timedOut := func() error {
		s.kill()
		<-s.exited
		s.logf("%s %s Task timed out after %.2f seconds\n", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"), inv.id, s.timeout.Seconds())
		return &TimeoutError{RequestID: inv.id, Timeout: s.timeout}
	}

	var err error
	select {
	case s.events <- inv: // a /next handler holds it now
		select {
		case <-inv.done:
		case <-s.exited:
			if s.abandon(inv) {
				err = s.exitError(inv.id)
				s.logf("%s\nRuntime.ExitError\n", err)
			}
		case <-timer.C:
			if s.abandon(inv) {
				err = timedOut()
			}
		case <-ctx.Done():
			if s.abandon(inv) {
				s.kill()
				err = ctx.Err()
			}
		case <-s.stop:
			if s.abandon(inv) {
				err = ErrClosed
			}
		}
	case <-s.exited:
		err = s.exitError("")
	case <-timer.C: // the runtime never asked for it: Lambda still kills the environment
		err = timedOut()
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.stop:
		err = ErrClosed
	}

	res := Result{RequestID: inv.id}
	s.mu.Lock()
	end := inv.end
	if !inv.answered || end.IsZero() {
		end = time.Now()
	}
	if !inv.start.IsZero() {
		res.Elapsed = end.Sub(inv.start)
	}
	if err == nil {
		res.Payload, res.Err = inv.payload, inv.ferr
	}
	cold := !inv.start.IsZero() && !s.coldUsed
	if cold {
		s.coldUsed = true
		if err == nil {
			res.SinceStart = end.Sub(s.startedAt)
		}
	}
	s.mu.Unlock()
	s.report(inv, res.Elapsed, cold)
	return res, err
}

// report logs END and REPORT, as Lambda does after each invocation.
func (s *Session) report(inv *invocation, d time.Duration, cold bool) {
	billed := d.Milliseconds()
	if d%time.Millisecond != 0 || billed == 0 {
		billed++
	}
	line := fmt.Sprintf("REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB", inv.id, ms(d), billed, s.memory)
	if cold {
		line += fmt.Sprintf("\tInit Duration: %.2f ms", ms(s.StartToFirstNext()))
	}
	s.logf("END RequestId: %s\n%s\n", inv.id, line)
}

// abandon marks inv as finished without an answer; false if it was answered in the meantime.
func (s *Session) abandon(inv *invocation) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inv.answered {
		return false
	}
	inv.answered = true
	if s.current == inv {
		s.current = nil
	}
	return true
}

// Close kills the process, as Lambda ends an environment without extensions, waits for it and
// stops the server.
func (s *Session) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		s.stopCtxMon()
		s.kill()
		<-s.exited
		err = s.srv.Close()
	})
	return err
}

func (s *Session) kill() { s.killOnce.Do(func() { _ = s.cmd.Process.Kill() }) }

func (s *Session) logf(format string, args ...any) { fmt.Fprintf(s.logs, format, args...) }

// ---- HTTP side: the Runtime API ----

func (s *Session) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+apiPrefix+"/invocation/next", s.handleNext)
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/response", func(w http.ResponseWriter, r *http.Request) { s.handleAnswer(w, r, false) })
	mux.HandleFunc("POST "+apiPrefix+"/invocation/{id}/error", func(w http.ResponseWriter, r *http.Request) { s.handleAnswer(w, r, true) })
	mux.HandleFunc("POST "+apiPrefix+"/init/error", s.handleInitError)
	return mux
}

func (s *Session) handleNext(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	switch {
	case s.posted != nil:
		s.mu.Unlock()
		invalidState(w, "Runtime called /invocation/next after /init/error")
		s.kill()
		return
	case s.current != nil:
		id := s.current.id
		s.mu.Unlock()
		invalidState(w, "Runtime called /invocation/next while invocation "+id+" is in progress")
		return
	case s.firstNextAt.IsZero():
		s.firstNextAt = time.Now()
		close(s.ready)
	}
	s.mu.Unlock()

	// Block until there is an event. Returning without one would answer an empty 200, which a
	// runtime takes for an event: at shutdown the runtime stays parked here, as in Lambda, until
	// it is killed.
	var inv *invocation
	select {
	case inv = <-s.events:
	case <-r.Context().Done():
		return
	case <-s.exited:
		return
	}
	s.mu.Lock()
	inv.start = time.Now()
	if !inv.answered { // not abandoned (deadline, ctx) meanwhile
		s.current = inv
	}
	s.mu.Unlock()

	h := w.Header()
	h.Set(HeaderRequestID, inv.id)
	h.Set(HeaderDeadlineMs, strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set(HeaderFunctionArn, s.arn)
	h.Set(HeaderTraceID, newTraceID())
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(inv.event)
}

func (s *Session) handleAnswer(w http.ResponseWriter, r *http.Request, isErr bool) {
	id := r.PathValue("id")
	s.mu.Lock()
	inv := s.current
	s.mu.Unlock()
	if inv == nil || inv.id != id {
		writeJSON(w, http.StatusBadRequest, errorDoc{Message: "Invalid request ID", Type: "InvalidRequestID"})
		return
	}
	body, err := readBody(r.Body)
	payload, ferr := body, (*FunctionError)(nil)
	switch {
	case errors.Is(err, errTooLarge):
		ferr = &FunctionError{Type: "Function.ResponseSizeTooLarge",
			Message: fmt.Sprintf("Response payload size exceeded maximum allowed payload size (%d bytes).", MaxResponseSize)}
		payload, _ = json.Marshal(errorDoc{Message: ferr.Message, Type: ferr.Type})
	case err != nil: // truncated request: the invocation is still unanswered
		writeJSON(w, http.StatusBadRequest, errorDoc{Message: "HTTP request detected as truncated", Type: "TruncatedHTTPRequest"})
		return
	case isErr:
		ferr = parseFunctionError(body, r.Header.Get(HeaderErrorType))
	}

	s.mu.Lock()
	if inv.answered || s.current != inv {
		s.mu.Unlock()
		writeJSON(w, http.StatusBadRequest, errorDoc{Message: "Invalid request ID", Type: "InvalidRequestID"})
		return
	}
	inv.answered, inv.end = true, time.Now()
	inv.payload, inv.ferr = payload, ferr
	s.current = nil
	s.mu.Unlock()
	close(inv.done)

	if errors.Is(err, errTooLarge) {
		tooLarge(w)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

func (s *Session) handleInitError(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r.Body)
	if errors.Is(err, errTooLarge) {
		tooLarge(w)
		return
	}
	fe := parseFunctionError(body, r.Header.Get(HeaderErrorType))
	s.mu.Lock()
	if !s.firstNextAt.IsZero() || s.posted != nil {
		s.mu.Unlock()
		invalidState(w, "Runtime called /init/error outside of the init phase")
		return
	}
	s.posted = &InitError{Type: fe.Type, Message: fe.Message}
	s.mu.Unlock()
	// The environment is discarded: give the runtime a moment to exit on its own.
	time.AfterFunc(initErrorGrace, s.kill)
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "OK"})
}

// ---- helpers ----

type errorDoc struct {
	Message string `json:"errorMessage"`
	Type    string `json:"errorType"`
}

// parseFunctionError reads an error document; the body's errorType wins over the
// Lambda-Runtime-Function-Error-Type header (aws-lambda-go sets only the body).
func parseFunctionError(body []byte, headerType string) *FunctionError {
	fe := &FunctionError{Type: headerType}
	var doc errorDoc
	if json.Unmarshal(body, &doc) == nil {
		if doc.Type != "" {
			fe.Type = doc.Type
		}
		fe.Message = doc.Message
	} else {
		fe.Message = strings.TrimSpace(string(body))
	}
	if fe.Type == "" {
		fe.Type = "Unhandled"
	}
	return fe
}

var errTooLarge = errors.New("payload too large")

func readBody(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, MaxResponseSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxResponseSize {
		_, _ = io.Copy(io.Discard, io.LimitReader(r, 64<<20)) // drain (bounded) so that the client reads the 413
		return nil, errTooLarge
	}
	return b, nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func tooLarge(w http.ResponseWriter) {
	writeJSON(w, http.StatusRequestEntityTooLarge, errorDoc{
		Message: fmt.Sprintf("Exceeded maximum allowed payload size (%d bytes).", MaxResponseSize), Type: "RequestEntityTooLarge"})
}

func invalidState(w http.ResponseWriter, msg string) {
	writeJSON(w, http.StatusForbidden, errorDoc{Type: "InvalidStateTransition", Message: msg})
}

func exitStatus(ps *os.ProcessState) (int, string) {
	if ps == nil {
		return -1, "unknown"
	}
	return ps.ExitCode(), ps.String()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func defaultFunctionName(bin string) string {
	base := strings.TrimSuffix(filepath.Base(bin), filepath.Ext(bin))
	if dir := filepath.Base(filepath.Dir(bin)); base == "bootstrap" && dir != "." && dir != string(filepath.Separator) {
		return dir
	}
	return base
}

// lambdaEnv builds the process environment: the caller's variables, then those Lambda sets. It
// returns the region and memory size in effect.
func lambdaEnv(callerEnv []string, addr, name, taskRoot string) (env []string, region string, memory int) {
	get := func(k string) string {
		for i := len(callerEnv) - 1; i >= 0; i-- {
			if key, v, ok := strings.Cut(callerEnv[i], "="); ok && key == k {
				return v
			}
		}
		return ""
	}
	region = get("AWS_REGION")
	if region == "" {
		region = get("AWS_DEFAULT_REGION")
	}
	if region == "" {
		region = DefaultRegion
	}
	defRegion := get("AWS_DEFAULT_REGION")
	if defRegion == "" {
		defRegion = region
	}
	memory = DefaultMemorySize
	if n, err := strconv.Atoi(get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")); err == nil && n > 0 {
		memory = n
	}
	set := [][2]string{
		{"AWS_LAMBDA_RUNTIME_API", addr},
		{"_HANDLER", "bootstrap"},
		{"AWS_LAMBDA_FUNCTION_NAME", name},
		{"AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"},
		{"AWS_LAMBDA_FUNCTION_MEMORY_SIZE", strconv.Itoa(memory)},
		{"AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/" + name},
		{"AWS_LAMBDA_LOG_STREAM_NAME", time.Now().UTC().Format("2006/01/02") + "/[$LATEST]" + randHex(16)},
		{"AWS_REGION", region},
		{"AWS_DEFAULT_REGION", defRegion},
		{"LAMBDA_TASK_ROOT", taskRoot},
		{"AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand"},
		{"TZ", ":UTC"},
	}
	ours := make(map[string]bool, len(set))
	for _, kv := range set {
		ours[kv[0]] = true
	}
	for _, kv := range callerEnv {
		if k, _, _ := strings.Cut(kv, "="); !ours[k] {
			env = append(env, kv)
		}
	}
	for _, kv := range set {
		env = append(env, kv[0]+"="+kv[1])
	}
	return env, region, memory
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// newTraceID returns an X-Ray trace header: Root=1-{epoch hex}-{96 bits};Parent={64 bits};Sampled=0.
func newTraceID() string {
	return fmt.Sprintf("Root=1-%08x-%s;Parent=%s;Sampled=0", time.Now().Unix(), randHex(12), randHex(8))
}

// lockedWriter serializes the process output and the harness's own lines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
