package devenv

import (
	"context"
	"os"
	"sync"
	"testing"
)

// One moto_server per test binary: starting it costs about a second, a table costs milliseconds.
var sharedMoto struct {
	once sync.Once
	m    *Moto
	err  error
}

// TestMoto returns the test binary's moto_server, starting it on first use. It fails the test,
// never skips it, when moto_server cannot be had.
func TestMoto(t testing.TB) *Moto {
	t.Helper()
	sharedMoto.once.Do(func() { sharedMoto.m, sharedMoto.err = StartMoto(context.Background()) })
	if sharedMoto.err != nil {
		t.Fatal(sharedMoto.err)
	}
	return sharedMoto.m
}

// ForTest starts a stack for one test: its own table, secret and simulator on the shared
// moto_server, so tests can run in parallel without seeing each other's data.
func ForTest(t testing.TB, opt Options) *Stack {
	t.Helper()
	opt.Moto = TestMoto(t)
	if opt.Dir == "" {
		opt.Dir = t.TempDir()
	}
	s, err := Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// RunTests is a TestMain that stops the shared moto_server after the tests.
func RunTests(m *testing.M) {
	code := m.Run()
	if sharedMoto.m != nil {
		sharedMoto.m.Close()
	}
	os.Exit(code)
}
