package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The in-process measurements of `make bench`, as Go benchmarks, for profiling:
//
//	go test -run '^$' -bench . -benchmem ./cmd/bench
//	go test -run '^$' -bench 'Handlers/status$' -cpuprofile cpu.out ./cmd/bench
//
// Each handler as its main wires it, and its bare SDK calls, against the in-process endpoint.

var warmSetup struct {
	once sync.Once
	env  *warmEnv
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if warmSetup.env != nil {
		warmSetup.env.close()
	}
	os.Exit(code)
}

func BenchmarkHandlers(b *testing.B) {
	warmSetup.once.Do(func() {
		fx, err := loadFixtures(filepath.Join("..", ".."))
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
		b.Run(c.key, func(b *testing.B) {
			if c.prepare != nil {
				c.prepare(b.N)
			}
			ctx, cancel := lambdaCtx()
			defer cancel()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := c.call(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
		if c.bare != nil {
			b.Run(c.key+"/bare", func(b *testing.B) {
				ctx, cancel := lambdaCtx()
				defer cancel()
				b.ReportAllocs()
				for range b.N {
					if err := c.bare(ctx); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func TestSampleQuantiles(t *testing.T) {
	t.Parallel()
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

func TestAFailedWriteOfTheResultsIsAnError(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "results.md")
	if err := writeFile(file, "x"); err != nil {
		t.Fatal(err)
	}
	// A folder that is a file: neither MkdirAll nor the write can succeed.
	if err := writeFile(filepath.Join(file, "results.md"), "x"); err == nil {
		t.Error("writing under a file succeeded")
	}
}

// report builds a full-run report whose functions' init costs are ratio × their bare twins'.
func syntheticReport(ratio float64) *report {
	r := &report{cold: map[string]*coldResult{}, bins: map[string]*binary{}}
	for _, k := range []string{"empty", "bare status", "bare status, LoadDefaultConfig"} {
		r.cold[k] = &coldResult{first: sample{4}, warm: sample{1}}
		r.bins[k] = &binary{size: 1 << 20, zip: 1 << 19}
	}
	for _, fn := range functions() {
		r.cold["bare "+fn] = &coldResult{first: sample{4}, warm: sample{1}}
		r.cold[fn] = &coldResult{first: sample{1 + 3*ratio}, warm: sample{1}}
		r.bins[fn], r.bins["bare "+fn] = &binary{size: 1 << 20, zip: 1 << 19}, &binary{size: 1 << 20, zip: 1 << 19}
	}
	return r
}

func TestTheInitBudgetHoldsEachFunctionToItsBareTwin(t *testing.T) {
	t.Parallel()
	if fails := syntheticReport(maxInitCostRatio - 0.01).failures(); len(fails) != 0 {
		t.Errorf("within the budget, yet broken: %q", fails)
	}
	fails := syntheticReport(maxInitCostRatio + 0.01).failures()
	if len(fails) != len(functions()) {
		t.Fatalf("over the budget: %d broken (%q), want one per function", len(fails), fails)
	}
	for i, fn := range functions() {
		if !strings.Contains(fails[i], "init cost (first response − warm response), "+fn+":") {
			t.Errorf("broken budget %q does not name %s", fails[i], fn)
		}
	}
}
