package devenv

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/tossgame/migration-server/shared/dev/ddblocal"
)

// One set of backends per test binary and DynamoDB source: starting moto_server costs about a
// second and DynamoDB Local a few, a table milliseconds. Every set shares the binary's one
// DynamoDB Local (ddblocal.Shared), which ddblocal's own test helpers use too.
var sharedMoto struct {
	mu sync.Mutex
	by map[DynamoDBSource]*sharedBackends
}

type sharedBackends struct {
	m   *Moto
	err error
}

// TestMoto returns the test binary's backends (DynamoDB from DynamoDB Local unless
// DEVENV_DYNAMODB=moto), starting them on first use. It fails the test, never skips it, when
// they cannot be had.
func TestMoto(t testing.TB) *Moto { return TestBackends(t, DynamoDBDefault) }

// TestBackends is TestMoto for a chosen DynamoDB server.
func TestBackends(t testing.TB, src DynamoDBSource) *Moto {
	t.Helper()
	src, err := src.resolve()
	if err != nil {
		t.Fatal(err)
	}
	sharedMoto.mu.Lock()
	defer sharedMoto.mu.Unlock()
	if sharedMoto.by == nil {
		sharedMoto.by = map[DynamoDBSource]*sharedBackends{}
	}
	b := sharedMoto.by[src]
	if b == nil {
		b = &sharedBackends{}
		var ddb *ddblocal.Server
		if src == DynamoDBLocal {
			ddb, b.err = ddblocal.Shared()
		}
		if b.err == nil {
			b.m, b.err = startBackends(context.Background(), src, ddb)
		}
		sharedMoto.by[src] = b
	}
	if b.err != nil {
		t.Fatal(b.err)
	}
	return b.m
}

// ForTest starts a stack for one test: its own table, secret and simulator on the shared
// backends (opt.DynamoDB chooses which), so tests can run in parallel without seeing each
// other's data.
func ForTest(t testing.TB, opt Options) *Stack {
	t.Helper()
	if opt.Moto == nil {
		opt.Moto = TestBackends(t, opt.DynamoDB)
	}
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

// RunTests is a TestMain that stops the shared backends after the tests.
func RunTests(m *testing.M) {
	code := m.Run()
	sharedMoto.mu.Lock()
	for _, b := range sharedMoto.by {
		b.m.Close()
	}
	sharedMoto.mu.Unlock()
	ddblocal.StopShared()
	os.Exit(code)
}
