package main

// The performance budgets `-check` enforces (docs/performance.md says what each protects). Do not
// loosen one to make a run pass: find what costs (pprof, go tool nm -size -sort size,
// GODEBUG=inittrace=1) and fix that.
const (
	// Init cost (cold first response − warm response right after, medians of the same run) of
	// each function, relative to its bare twin's (cmd/bench/barefn: the same clients and SDK
	// calls, nothing of ours), through the same harness against the same instant endpoint.
	maxInitCostRatio = 1.15
	// Warm in-process time per request relative to the bare SDK calls the handler cannot avoid.
	maxWarmOverheadRatio = 1.2
)

// maxBinaryBytes bounds each linux/arm64 bootstrap, stripped (-ldflags="-s -w").
var maxBinaryBytes = map[string]int64{
	"status": 8 << 20,      // 8 MiB
	"link":   19 << 20 / 2, // 9.5 MiB
	"unlink": 19 << 20 / 2, // 9.5 MiB
}

// maxAllocsPerOp are allocation ceilings per request of each handler in process (warm, against
// the instant endpoint, so the SDK's and the loopback server's allocations are included; link-new
// also includes the in-process Toss simulator's server side): the allocations measured + 10 %,
// rounded up. Lowered 2026-12-01 when the SDK moved to dynamodb v1.74.0 / secretsmanager v1.51.0
// (schema-based serialisation): 22–38 fewer allocations per request than on v1.68.0 / v1.49.0
// (bare GetItem 432 -> 410); measured with go1.26.8 linux/amd64: status 445, link on a mapped
// hash 471, unlink 857, new link 1249.
//
// A change that needs more must say why; a change that needs fewer should lower the ceiling.
var maxAllocsPerOp = map[string]float64{
	"status":   490,
	"link":     519,
	"unlink":   943,
	"link-new": 1374,
}
