package ddblocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"sync"
	"testing"
)

// One DynamoDB Local per test binary: a JVM costs seconds to start, a table milliseconds.
var shared struct {
	mu  sync.Mutex
	s   *Server
	err error
}

// Shared returns the process's DynamoDB Local, starting it on first use. A failed start is
// remembered: every later caller gets the same error without another attempt.
func Shared() (*Server, error) {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.s == nil && shared.err == nil {
		shared.s, shared.err = Start(context.Background())
	}
	return shared.s, shared.err
}

// StopShared stops the process's DynamoDB Local, if one was started.
func StopShared() {
	shared.mu.Lock()
	defer shared.mu.Unlock()
	shared.s.Close()
	shared.s = nil
}

// TestServer returns the test binary's DynamoDB Local. It fails the test, never skips it, when
// the server cannot be had; the message says how to install what is missing.
func TestServer(t testing.TB) *Server {
	t.Helper()
	s, err := Shared()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// RunTests is a TestMain that stops the shared server after the tests.
func RunTests(m *testing.M) {
	code := m.Run()
	StopShared()
	os.Exit(code)
}

// TableName returns prefix followed by a random part: tests sharing the server never share a
// table.
func TableName(prefix string) string {
	var b [6]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}
