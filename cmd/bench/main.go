// Command bench measures the Lambda functions against the budgets in budgets.go and prints one
// table (`make bench` also writes it to bench/results.md). Every ratio is against a baseline
// measured in the same run; docs/performance.md says what each budget protects and how each
// figure is taken.
//
//	go run ./cmd/bench [-out bench/results.md] [-check] [-deterministic]
//
// -check exits 1 when a budget is broken; -deterministic measures and checks only what does not
// depend on the machine's speed: sizes, call counts, allocations (CI).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/routes"
)

type config struct {
	out           string
	check         bool
	deterministic bool
	runs          int
	warmReps      int
}

func main() {
	var c config
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&c.out, "out", "", "also write the table to this Markdown file")
	fs.BoolVar(&c.check, "check", false, "exit 1 when a budget is broken")
	fs.BoolVar(&c.deterministic, "deterministic", false, "only sizes, call counts and allocations (no timings): what CI checks")
	fs.IntVar(&c.runs, "runs", 100, "cold-start rounds (every bootstrap once per round, in random order)")
	fs.IntVar(&c.warmReps, "warm-reps", 10, "paired handler/baseline timings per warm case")
	_ = fs.Parse(os.Args[1:])

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	rep, err := run(ctx, c)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	rep.took = time.Since(start)
	table := rep.table()
	fmt.Printf("\n%s\n\n%s\n", rep.heading(), table)
	if c.out != "" {
		if err := writeFile(c.out, rep.markdown(table)); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		fmt.Println("written to", c.out)
	}
	fails := rep.failures()
	if len(fails) == 0 {
		fmt.Printf("all %s budgets met (%s)\n", rep.mode(), rep.took.Round(time.Second))
		return
	}
	fmt.Printf("%d budget(s) broken (%s, %s):\n", len(fails), rep.mode(), rep.took.Round(time.Second))
	for _, f := range fails {
		fmt.Println("  BROKEN:", f)
	}
	if c.check {
		os.Exit(1)
	}
}

// writeFile writes the results, creating the folder; any failure is the bench's failure.
func writeFile(path, content string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(content), 0o644)
}

// report is everything one run measured.
type report struct {
	cfg          config
	when         time.Time
	machine      string
	goVer        string
	bins         map[string]*binary
	cold         map[string]*coldResult
	warm         []*warmResult
	calls        []callCheck
	phases       []string
	took         time.Duration
	load0, load1 string // /proc/loadavg at the start and the end: the machine is shared
}

func (r *report) mode() string {
	if r.cfg.deterministic {
		return "deterministic"
	}
	return "full"
}

func progress(msg string) { fmt.Fprintln(os.Stderr, "bench:", msg) }

// functions are the product's functions, in the route table's order.
func functions() []string {
	var out []string
	for _, r := range routes.All {
		if !slices.Contains(out, r.Function) {
			out = append(out, r.Function)
		}
	}
	return out
}

func run(ctx context.Context, c config) (*report, error) {
	r := &report{cfg: c, when: time.Now().UTC(), load0: loadavg()}
	r.machine, r.goVer = machine()
	defer func() { r.load1 = loadavg() }()
	for _, fn := range functions() {
		if _, ok := subjects[fn]; !ok {
			return nil, fmt.Errorf("function %q (shared/routes) has no bench subject: add it to subjects in cmd/bench/events.go", fn)
		}
	}
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	fx, err := loadFixtures(root)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	phase := func(name string, t time.Time) {
		d := time.Since(t).Round(100 * time.Millisecond)
		r.phases = append(r.phases, fmt.Sprintf("%s %s", name, d))
		progress(fmt.Sprintf("%s done in %s", name, d))
	}

	t := time.Now()
	progress("building the functions and baselines for this machine and for linux/arm64")
	if r.bins, err = build(ctx, root, dir); err != nil {
		return nil, err
	}
	phase("builds", t)

	t = time.Now()
	progress("counting calls per request through the real binaries (moto_server, Toss simulator)")
	st, err := devenv.Start(ctx, devenv.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	r.calls, err = measureCalls(ctx, st, fx, r.bins)
	st.Close()
	if err != nil {
		return nil, err
	}
	phase("call counts", t)

	t = time.Now()
	we, err := setupWarm(fx)
	if err != nil {
		return nil, err
	}
	defer we.close()
	if !c.deterministic {
		progress(fmt.Sprintf("cold starts against the instant AWS endpoint: %d rounds", c.runs))
		if r.cold, err = measureCold(ctx, coldEnv(we.mapped.URL), coldCases(fx, r.bins), c.runs); err != nil {
			return nil, err
		}
		phase("cold starts", t)
		t = time.Now()
	}
	progress("in-process allocations and paired timings")
	if r.warm, err = measureWarm(we, c); err != nil {
		return nil, err
	}
	phase("in process", t)
	return r, ctx.Err()
}

// moduleRoot is the directory of go.mod: builds, make and events/ are relative to it.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run cmd/bench inside the module (go run ./cmd/bench from the repository root)")
	}
	return filepath.Dir(gomod), nil
}

// machine describes the host (uname -m, CPU model, cores) and the Go version.
func machine() (string, string) {
	arch := runtime.GOARCH
	if out, err := exec.Command("uname", "-m").Output(); err == nil {
		arch = strings.TrimSpace(string(out))
	}
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	return fmt.Sprintf("%s, %s, %d cores", arch, model, runtime.NumCPU()), runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) >= 3 {
		return strings.Join(f[:3], " ")
	}
	return "unknown"
}

// row is one line of the table.
type row struct {
	figure, ours, baseline, ratio, budget, result string
	broken                                        string // the message when result is FAIL
}

// budgeted sets the row's budget and verdict.
func (rw row) budgeted(budget string, ok bool, broken string) row {
	rw.budget, rw.result = budget, "PASS"
	if !ok {
		rw.result, rw.broken = "FAIL", rw.figure+": "+broken
	}
	return rw
}

func (r *report) rows() []row {
	var rows []row
	fns := functions()
	if !r.cfg.deterministic {
		// Init cost and first response: each function against its bare twin; then context.
		pairs := [][2]string{}
		for _, fn := range fns {
			pairs = append(pairs, [2]string{fn, "bare " + fn})
		}
		pairs = append(pairs, [2]string{"status", "empty"}, [2]string{"bare status", "empty"},
			[2]string{"bare status, LoadDefaultConfig", "bare status"})
		for _, p := range pairs {
			o, b := r.cold[p[0]], r.cold[p[1]]
			rr, fr := pairedRatios(o, b)
			rw := row{figure: "init cost (first response − warm response), " + p[0], ours: fmtCold(o), baseline: p[1] + " " + fmtCold(b),
				ratio: ratio(rr) + " (first response " + ratio(fr) + ")", budget: "—", result: "info"}
			if p[1] == "bare "+p[0] {
				rw = rw.budgeted(fmt.Sprintf("≤ %.2f×", maxInitCostRatio), rr <= maxInitCostRatio,
					fmt.Sprintf("%.2f× its bare twin's (median of the rounds' ratios), budget ≤ %.2f×", rr, maxInitCostRatio))
			}
			rows = append(rows, rw)
		}
	}

	for _, w := range r.warm {
		if w.bare != nil && !r.cfg.deterministic {
			rr := w.ratios.median()
			rows = append(rows, row{figure: "warm time per request in process, " + w.label, ours: fmtUs(w.ns),
				baseline: fmtUs(w.bareNs) + " (" + w.bareDesc + ")", ratio: fmt.Sprintf("%.2f× (%.2f–%.2f)", rr, w.ratios.min(), w.ratios.max())}.
				budgeted(fmt.Sprintf("≤ %.2f×", maxWarmOverheadRatio), rr <= maxWarmOverheadRatio,
					fmt.Sprintf("%.2f× the bare SDK calls (median paired ratio), budget ≤ %.2f×", rr, maxWarmOverheadRatio)))
		}
		rw := row{figure: "allocations per request in process, " + w.label, ours: fmt.Sprintf("%.0f", w.allocs.median()), baseline: "—", ratio: "—"}
		if w.bare != nil {
			rw.baseline, rw.ratio = fmt.Sprintf("%.0f (%s)", w.bareAllocs.median(), w.bareDesc), ratio(w.allocs.median()/w.bareAllocs.median())
		}
		ceil := maxAllocsPerOp[w.key]
		rows = append(rows, rw.budgeted(fmt.Sprintf("≤ %.0f", ceil), w.allocs.median() <= ceil,
			fmt.Sprintf("%.0f allocations, ceiling %.0f (budgets.go)", w.allocs.median(), ceil)))
	}

	sizes := [][2]string{}
	for _, fn := range fns {
		sizes = append(sizes, [2]string{fn, "bare " + fn})
	}
	sizes = append(sizes, [2]string{"bare status, LoadDefaultConfig", "bare status"}, [2]string{"bare status", "empty"})
	for _, p := range sizes {
		o, b := r.bins[p[0]], r.bins[p[1]]
		rw := row{figure: "linux/arm64 binary · zip, " + p[0], ours: mib(o.size) + " · " + mib(o.zip),
			baseline: p[1] + " " + mib(b.size) + " · " + mib(b.zip),
			ratio:    ratio(float64(o.size)/float64(b.size)) + " · " + ratio(float64(o.zip)/float64(b.zip)), budget: "—", result: "info"}
		if limit, ok := maxBinaryBytes[p[0]]; ok {
			rw = rw.budgeted("binary ≤ "+mib(limit), o.size <= limit, fmt.Sprintf("%d bytes, budget %s", o.size, mib(limit)))
		}
		rows = append(rows, rw)
	}

	for _, c := range r.calls {
		rows = append(rows, row{figure: c.what, ours: c.got, baseline: "—", ratio: "—"}.budgeted(c.want, c.pass, "got "+c.got+", want "+c.want))
	}
	return rows
}

func (r *report) failures() []string {
	var out []string
	for _, rw := range r.rows() {
		if rw.result == "FAIL" {
			out = append(out, rw.broken)
		}
	}
	return out
}

func (r *report) heading() string {
	return fmt.Sprintf("%s, %s — %s, %s run", r.when.Format("2006-01-02 15:04 UTC"), r.machine, r.goVer, r.mode())
}

// table is the one Markdown table (stdout and results.md).
func (r *report) table() string {
	var b bytes.Buffer
	b.WriteString("| Figure | Ours: median (min–max) | Baseline, same run | Ratio | Budget | Result |\n|---|---|---|---|---|---|\n")
	cell := func(s string) string {
		if s == "" {
			return "—"
		}
		return strings.ReplaceAll(s, "|", "\\|")
	}
	for _, rw := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(rw.figure), cell(rw.ours), cell(rw.baseline), cell(rw.ratio), cell(rw.budget), cell(rw.result))
	}
	return b.String()
}

func (r *report) markdown(table string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Performance: `make bench`\n\n%s. What each figure is, what each budget protects and how to rerun: docs/performance.md.\n\n", r.heading())
	fmt.Fprintf(&b, "- Took %s: %s.\n", r.took.Round(time.Second), strings.Join(r.phases, ", "))
	fmt.Fprintf(&b, "- Load average (1/5/15 min) at the start: %s; at the end: %s (the machine is shared: timings carry other work's noise).\n", r.load0, r.load1)
	if !r.cfg.deterministic {
		fmt.Fprintf(&b, "- Cold starts: %d rounds (plus one untimed), every bootstrap once per round in a new random order. Warm: %d paired timings of %d handler/bare pairs per case.\n", r.cfg.runs, r.cfg.warmReps, pairedPairs)
	}
	b.WriteString("\n" + table)
	if fails := r.failures(); len(fails) > 0 {
		fmt.Fprintf(&b, "\n**%d budget(s) broken in this run** (cmd/bench/budgets.go):\n\n", len(fails))
		for _, f := range fails {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	} else {
		fmt.Fprintf(&b, "\nAll %s budgets met in this run (cmd/bench/budgets.go).\n", r.mode())
	}
	return b.String()
}
