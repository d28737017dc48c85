package main

// The performance budgets `-check` enforces. Do not loosen one to make a run pass: find what
// costs (pprof, go tool nm -size -sort size, go build -ldflags=-dumpdep) and fix that.
const (
	// Init cost (cold first response − warm response right after, medians of the same run) of
	// each function, relative to the empty aws-lambda-go function's through the same harness.
	maxInitCostRatio = 1.5
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
// also includes the in-process Toss simulator's server side). Set 2026-11-21 as the allocs/op then
// measured + 10 %, rounded up; measured 2026-11-22 with go1.26.8 linux/amd64, aws-sdk-go-v2
// v1.47.7 / dynamodb v1.68.0: status 467 (bare GetItem 432), link on a mapped hash 493 (432),
// unlink 883 (856), new link 1287.
//
// A change that needs more must say why; a change that needs fewer should lower the ceiling.
var maxAllocsPerOp = map[string]float64{
	"status":   500,
	"link":     533,
	"unlink":   950,
	"link-new": 1424,
}
