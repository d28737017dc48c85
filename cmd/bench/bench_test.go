package main

import (
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// The in-process benchmarks of `make bench`, for `go test`:
//
//	go test -run '^$' -bench . -benchmem ./cmd/bench
//	go test -run '^$' -bench 'Status$' -benchmem -cpuprofile cpu.out ./cmd/bench
//
// Each handler as shared/app wires it, against an in-process endpoint that answers DynamoDB and
// Secrets Manager at once; the Baseline benchmarks are the bare SDK calls the handler cannot avoid.

var warmSetup struct {
	once sync.Once
	env  *warmEnv
	err  error
}

func warmCaseFor(b *testing.B, key string) warmCase {
	b.Helper()
	warmSetup.once.Do(func() {
		root, err := filepath.Abs(filepath.Join("..", ".."))
		if err != nil {
			warmSetup.err = err
			return
		}
		fx, err := loadFixtures(root)
		if err != nil {
			warmSetup.err = err
			return
		}
		warmSetup.env, warmSetup.err = setupWarm(fx)
	})
	if warmSetup.err != nil {
		b.Fatal(warmSetup.err)
	}
	for _, c := range warmSetup.env.cases {
		if c.key == key {
			return c
		}
	}
	b.Fatalf("no case %q", key)
	return warmCase{}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if warmSetup.env != nil {
		warmSetup.env.close()
	}
	os.Exit(code)
}

func runCase(b *testing.B, key string, baseline bool) {
	c := warmCaseFor(b, key)
	f := c.handler
	if baseline {
		f = c.baseline
	}
	f(b)
	if err := takeBenchErr(); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkStatus(b *testing.B)             { runCase(b, "status", false) }
func BenchmarkStatusBaseline(b *testing.B)     { runCase(b, "status", true) }
func BenchmarkLinkMapped(b *testing.B)         { runCase(b, "link", false) }
func BenchmarkLinkMappedBaseline(b *testing.B) { runCase(b, "link", true) }
func BenchmarkUnlink(b *testing.B)             { runCase(b, "unlink", false) }
func BenchmarkUnlinkBaseline(b *testing.B)     { runCase(b, "unlink", true) }
func BenchmarkLinkNew(b *testing.B)            { runCase(b, "link-new", false) }

func TestSampleQuantiles(t *testing.T) {
	s := sample{5, 1, 3, 2, 4}
	for _, c := range []struct{ q, want float64 }{{0, 1}, {0.25, 2}, {0.5, 3}, {0.75, 4}, {1, 5}} {
		if got := s.quantile(c.q); got != c.want {
			t.Errorf("quantile(%v) = %v, want %v", c.q, got, c.want)
		}
	}
	if got := (sample{1, 2}).median(); got != 1.5 {
		t.Errorf("median of 1, 2 = %v, want 1.5", got)
	}
	if !math.IsNaN(sample{}.median()) {
		t.Error("median of nothing should be NaN")
	}
}

func TestCostsAddUp(t *testing.T) {
	c := costs(3.2, 20.1)
	if c[0].billedMs != 4 || c[1].billedMs != 21 {
		t.Fatalf("billed %v and %v ms, want 4 and 21", c[0].billedMs, c[1].billedMs)
	}
	// status: $0.20 Lambda requests + 4 ms × 0.25 GB × $0.0000133334 × 10⁶, $1.29 API, 1 RRU.
	want := 0.20 + 4.0/1000*0.25*0.0000133334*1e6 + 1.29 + 0.1415
	if math.Abs(c[0].total-want) > 1e-9 {
		t.Errorf("status total %v, want %v", c[0].total, want)
	}
	if c[1].ddb <= c[0].ddb || c[1].sm <= 0 {
		t.Errorf("link should cost more DynamoDB than status and some Secrets Manager: %+v", c[1])
	}
}
