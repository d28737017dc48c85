// Command bench measures the three Lambda functions against budgets and prints one table
// (`make bench` also writes it to bench/results.md):
//
//   - cold start and init cost of each real bootstrap through the Runtime API harness, against a
//     devenv stack on loopback, next to an empty aws-lambda-go function;
//   - warm latency and allocations of each handler in process against an instant DynamoDB
//     endpoint, next to the bare SDK calls it cannot avoid;
//   - binary and zip size of each linux/arm64 artifact, next to the empty function's;
//   - calls per request at the transport (AWS through devenv's proxy, Toss at the simulator);
//   - throughput of the local server for status (context only: moto_server is the bottleneck);
//   - dollars per million status and link calls.
//
// Every timing is a median over repeated runs with its spread, and every ratio is against a
// baseline measured in the same run.
//
//	go run ./cmd/bench [-out bench/results.md] [-check] [-deterministic]
//
// -check exits 1 when a budget (budgets.go) is broken; -deterministic measures and checks only
// what does not depend on the machine's speed: sizes, call counts, allocations (CI).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/store"
)

type config struct {
	out           string
	check         bool
	deterministic bool
	runs          int
	warmReps      int
	benchtime     string
	links         int
	loadDuration  time.Duration
}

func main() {
	testing.Init() // testing.Benchmark reads -test.benchtime
	var c config
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&c.out, "out", "", "also write the table and notes to this Markdown file")
	fs.BoolVar(&c.check, "check", false, "exit 1 when a budget is broken")
	fs.BoolVar(&c.deterministic, "deterministic", false, "only sizes, call counts and allocations (no timings): what CI checks")
	fs.IntVar(&c.runs, "runs", 60, "cold-start rounds (each function once per round, in random order)")
	fs.IntVar(&c.warmReps, "warm-reps", 0, "repetitions of each in-process benchmark (default 10, or 3 with -deterministic)")
	fs.StringVar(&c.benchtime, "benchtime", "", "testing benchtime of each in-process benchmark (default 200ms, or 1000x with -deterministic)")
	fs.IntVar(&c.links, "links", 100, "warm links after the cold one in the TLS reuse check")
	fs.DurationVar(&c.loadDuration, "load", 10*time.Second, "duration of the throughput run (0 skips it)")
	_ = fs.Parse(os.Args[1:])
	if c.warmReps <= 0 {
		c.warmReps = 10
		if c.deterministic {
			c.warmReps = 3
		}
	}
	if c.benchtime == "" {
		c.benchtime = "200ms"
		if c.deterministic {
			c.benchtime = "1000x"
		}
	}
	if err := flag.Set("test.benchtime", c.benchtime); err != nil {
		fmt.Fprintln(os.Stderr, "bench: -benchtime:", err)
		os.Exit(2)
	}

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
	fmt.Println()
	fmt.Println(rep.heading())
	fmt.Println()
	fmt.Print(table)
	fmt.Println()
	if c.out != "" {
		if err := os.MkdirAll(filepath.Dir(c.out), 0o755); err == nil {
			err = os.WriteFile(c.out, []byte(rep.markdown(table)), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		fmt.Println("written to", c.out)
	}
	fails := rep.failures()
	if len(fails) == 0 {
		fmt.Printf("all %s budgets met (%s in %s)\n", rep.scope(), rep.mode(), rep.took.Round(time.Second))
		return
	}
	fmt.Printf("%d budget(s) broken (%s in %s):\n", len(fails), rep.mode(), rep.took.Round(time.Second))
	for _, f := range fails {
		fmt.Println("  BROKEN:", f)
	}
	if c.check {
		os.Exit(1)
	}
}

// report is everything one run measured.
type report struct {
	cfg      config
	when     time.Time
	machine  string
	goVer    string
	fns      map[string]*function
	builtBy  string
	cold     map[string]*coldResult
	coldKeys []string
	// coldInstant: the same cold starts with both AWS endpoints pointed at the instant endpoint,
	// so that what remains of cold − warm is the function's own start, without moto's jitter.
	coldInstant     map[string]*coldResult
	coldInstantKeys []string
	warm            []*warmResult
	calls           []callCheck
	load            *loadResult
	loadErr         error
	phases          []string
	took            time.Duration
	load0           string // /proc/loadavg at the start and the end: the machine is shared
	load1           string
}

func (r *report) mode() string {
	if r.cfg.deterministic {
		return "deterministic mode"
	}
	return "full run"
}

func (r *report) scope() string {
	if r.cfg.deterministic {
		return "deterministic"
	}
	return "performance"
}

func progress(msg string) { fmt.Fprintln(os.Stderr, "bench:", msg) }

func run(ctx context.Context, c config) (*report, error) {
	r := &report{cfg: c, when: time.Now().UTC(), fns: map[string]*function{}}
	r.machine, r.goVer = machine()
	r.load0 = loadavg()
	defer func() { r.load1 = loadavg() }()
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
	for _, f := range functionList {
		r.fns[f.name] = f
	}
	phase := func(name string, t time.Time) {
		d := time.Since(t).Round(100 * time.Millisecond)
		r.phases = append(r.phases, fmt.Sprintf("%s %s", name, d))
		progress(fmt.Sprintf("%s done in %s", name, d))
	}

	t := time.Now()
	progress("building the functions for this machine and for linux/arm64")
	if err := buildHost(ctx, root, filepath.Join(dir, "host"), functionList); err != nil {
		return nil, err
	}
	if r.builtBy, err = buildArm64(ctx, root, filepath.Join(dir, "arm64"), functionList); err != nil {
		return nil, err
	}
	phase("builds", t)

	t = time.Now()
	progress("starting moto_server and the Toss simulator")
	st, err := devenv.Start(ctx, devenv.Options{Dir: dir})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	phase("backends", t)

	t = time.Now()
	progress("counting calls per request through the real binaries")
	if r.calls, err = measureCalls(ctx, st, fx, r.fns, c.links); err != nil {
		return nil, err
	}
	phase("call counts", t)

	if !c.deterministic {
		t = time.Now()
		progress(fmt.Sprintf("cold starts: %d rounds of %d cases", c.runs, 5))
		if err := store.New(st.DB, st.Table).Link(ctx, mappedHash, 900_000_001, time.Now(), nil); err != nil {
			return nil, err
		}
		cases := coldCases(st, fx, r.fns)
		for _, cc := range cases {
			r.coldKeys = append(r.coldKeys, cc.key)
		}
		if r.cold, err = measureCold(ctx, st.Environ(), cases, c.runs, progress); err != nil {
			return nil, err
		}
		progress("cold starts again, against the instant AWS endpoint (attribution)")
		in := newInstant(true, st.Doc)
		defer in.Close()
		var icases []coldCase
		for _, cc := range cases {
			if cc.key != "link-new" { // its cold path is the Toss handshake, not the AWS clients
				icases = append(icases, anyAnswer(cc))
				r.coldInstantKeys = append(r.coldInstantKeys, cc.key)
			}
		}
		if r.coldInstant, err = measureCold(ctx, awsEndpoint(st.Environ(), in.URL), icases, c.runs, progress); err != nil {
			return nil, err
		}
		phase("cold starts", t)
	}

	t = time.Now()
	progress(fmt.Sprintf("in-process benchmarks: %d × benchtime %s per handler and baseline", c.warmReps, c.benchtime))
	we, err := setupWarm(fx)
	if err != nil {
		return nil, err
	}
	r.warm = measureWarm(we, c.warmReps)
	we.close()
	phase("in-process benchmarks", t)

	if !c.deterministic && c.loadDuration > 0 {
		st.Close() // its moto_server is idle; cmd/local starts its own
		t = time.Now()
		progress(fmt.Sprintf("throughput of the local server for %s", c.loadDuration))
		r.load, r.loadErr = measureLoad(ctx, root, dir, c.loadDuration)
		if r.loadErr != nil {
			progress("throughput: " + r.loadErr.Error())
		}
		phase("throughput", t)
	}
	return r, ctx.Err()
}

// machine describes the host: uname -m, CPU model, cores; and the Go version.
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
	goVer := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if out, err := exec.Command("go", "version").Output(); err == nil {
		goVer = strings.TrimPrefix(strings.TrimSpace(string(out)), "go version ")
	}
	return fmt.Sprintf("%s, %s, %d cores", arch, model, runtime.NumCPU()), goVer
}

// loadavg is the 1, 5 and 15 minute load averages.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// row is one line of the table.
type row struct {
	figure, ours, baseline, ratio, budget, result string
	broken                                        string // the message when result is FAIL
}

const (
	pass = "PASS"
	fail = "FAIL"
	info = "info"
)

func verdict(ok bool) string {
	if ok {
		return pass
	}
	return fail
}

func (r *report) rows() []row {
	var rows []row
	det := r.cfg.deterministic
	empty := r.fns["empty"]

	// 1. Cold start and init cost.
	if !det {
		base := r.cold["empty"]
		for _, k := range r.coldKeys {
			cr := r.cold[k]
			if k == "empty" {
				continue
			}
			rows = append(rows, row{figure: "cold start, " + cr.c.label + ": process start → first response",
				ours: fmtMs(cr.cold), baseline: fmtMs(base.cold), ratio: ratio(cr.cold.median(), base.cold.median()), budget: "—", result: info})
			rr := cr.initCost.median() / base.initCost.median()
			rw := row{figure: "init cost, " + cr.c.label + ": cold − warm (warm " + fmtMs(cr.warm) + ")",
				ours: fmtMs(cr.initCost), baseline: fmtMs(base.initCost), ratio: ratio(cr.initCost.median(), base.initCost.median())}
			if cr.c.secretRead {
				// The raw figure is reported; the budget applies once the container's one secret
				// read (measured in the same rounds) is taken out.
				rows = append(rows, row{figure: rw.figure, ours: rw.ours, baseline: rw.baseline, ratio: rw.ratio,
					budget: "—", result: info})
				rr = cr.adjusted.median() / base.initCost.median()
				rw = row{figure: "init cost, " + cr.c.label + ", less its one cold secret read (" + fmtMs(cr.secret) + ")",
					ours: fmtMs(cr.adjusted), baseline: fmtMs(base.initCost), ratio: ratio(cr.adjusted.median(), base.initCost.median())}
			}
			if cr.c.budgeted {
				rw.budget = fmt.Sprintf("≤ %.1f×", maxInitCostRatio)
				rw.result = verdict(rr <= maxInitCostRatio)
				if rw.result == fail {
					rw.broken = fmt.Sprintf("init cost of %s is %.2f× the empty function's (%s vs %s ms medians); budget ≤ %.1f×",
						cr.c.label, rr, rw.ours, num(base.initCost.median()), maxInitCostRatio)
				}
			} else {
				rw.budget, rw.result = "—", info
			}
			rows = append(rows, rw)
		}
		ib := r.coldInstant["empty"]
		for _, k := range r.coldInstantKeys {
			cr := r.coldInstant[k]
			if k == "empty" {
				continue
			}
			v, fig := cr.initCost, "init cost, "+cr.c.label+", instant AWS endpoint: cold − warm (warm "+fmtMs(cr.warm)+")"
			if cr.c.secretRead {
				v, fig = cr.adjusted, "init cost, "+cr.c.label+", instant AWS endpoint, less its one cold secret read ("+fmtMs(cr.secret)+")"
			}
			rows = append(rows, row{figure: fig, ours: fmtMs(v), baseline: fmtMs(ib.initCost), ratio: ratio(v.median(), ib.initCost.median()),
				budget: "—", result: info})
		}
		rows = append(rows, row{figure: "init phase (process start → first /next), status · link · unlink",
			ours:     fmt.Sprintf("%s · %s · %s ms", num(r.cold["status"].toNext.median()), num(r.cold["link"].toNext.median()), num(r.cold["unlink"].toNext.median())),
			baseline: num(base.toNext.median()) + " ms", ratio: ratio(r.cold["status"].toNext.median(), base.toNext.median()) + " (status)", budget: "—", result: info})
	}

	// 2. Warm in process.
	for _, w := range r.warm {
		if w.failed != "" {
			rows = append(rows, row{figure: "warm in process, " + w.c.label, ours: "failed", result: fail, broken: w.c.label + ": " + w.failed})
			continue
		}
		ns := row{figure: "warm in process, " + w.c.label + ": time per request", ours: fmtNs(w.ns), budget: "—", result: info}
		if w.c.baseline != nil {
			ns.baseline = fmtNs(w.baseNs) + " (" + w.c.baselineDesc + ")"
			ns.ratio = fmt.Sprintf("%.2f× (%.2f–%.2f)", w.ratios.median(), w.ratios.min(), w.ratios.max())
			if w.c.budgeted && !det {
				rr := w.ratios.median()
				ns.budget = fmt.Sprintf("≤ %.1f×", maxWarmOverheadRatio)
				ns.result = verdict(rr <= maxWarmOverheadRatio)
				if ns.result == fail {
					ns.broken = fmt.Sprintf("warm overhead of %s is %.2f× the bare SDK calls (%s vs %s µs); budget ≤ %.1f×",
						w.c.label, rr, num(w.ns.median()/1e3), num(w.baseNs.median()/1e3), maxWarmOverheadRatio)
				}
			}
		} else {
			ns.baseline, ns.ratio = "— (no bare equivalent: includes the simulator)", "—"
		}
		rows = append(rows, ns)
		al := row{figure: "warm in process, " + w.c.label + ": B/op · allocs/op",
			ours: fmt.Sprintf("%.0f B · %.1f allocs", w.bytes.median(), w.allocs.median())}
		if w.c.baseline != nil {
			al.baseline = fmt.Sprintf("%.0f B · %.1f allocs", w.baseBytes.median(), w.baseAll.median())
			al.ratio = ratio(w.allocs.median(), w.baseAll.median()) + " allocs"
		}
		if ceil, ok := maxAllocsPerOp[w.c.key]; ok {
			al.budget = fmt.Sprintf("≤ %.0f allocs", ceil)
			al.result = verdict(w.allocs.median() <= ceil)
			if al.result == fail {
				al.broken = fmt.Sprintf("%s allocates %.1f per request in process; ceiling %.0f (budgets.go)", w.c.label, w.allocs.median(), ceil)
			}
		} else {
			al.budget, al.result = "—", info
		}
		rows = append(rows, al)
	}

	// 3. Sizes.
	for _, name := range []string{"status", "link", "unlink"} {
		f := r.fns[name]
		limit := maxBinaryBytes[name]
		rw := row{figure: "linux/arm64 " + name + ": binary · zip",
			ours:     mib(f.size) + " · " + mib(f.zipSize),
			baseline: mib(empty.size) + " · " + mib(empty.zipSize),
			ratio:    ratio(float64(f.size), float64(empty.size)) + " · " + ratio(float64(f.zipSize), float64(empty.zipSize)),
			budget:   "binary ≤ " + mib(limit), result: verdict(f.size <= limit)}
		if rw.result == fail {
			rw.broken = fmt.Sprintf("%s binary is %s (%d bytes); budget %s", name, mib(f.size), f.size, mib(limit))
		}
		rows = append(rows, rw)
	}

	// 4. Calls.
	for _, c := range r.calls {
		rw := row{figure: c.what, ours: c.got, baseline: "—", ratio: "—", budget: c.want}
		switch {
		case !c.budget:
			rw.result = info
			if !c.pass {
				rw.result = "info (≠ " + c.want + ")"
			}
		default:
			rw.result = verdict(c.pass)
			if !c.pass {
				rw.broken = fmt.Sprintf("%s: got %s, want %s", c.what, c.got, c.want)
			}
		}
		rows = append(rows, rw)
	}

	// 5. Throughput.
	if !det && r.cfg.loadDuration > 0 {
		switch {
		case r.loadErr != nil:
			rows = append(rows, row{figure: "throughput, local server, status", ours: "not measured: " + r.loadErr.Error(), result: info})
		case r.load != nil:
			l := r.load
			cpu := fmt.Sprintf("CPU: local server %.0f %%, moto_server %.0f %%", l.localCPU, l.motoCPU)
			if !l.haveMoto {
				cpu = fmt.Sprintf("CPU: local server %.0f %% (moto_server not found)", l.localCPU)
			}
			if l.haveGenUsed {
				cpu += fmt.Sprintf(", generator %.0f %%", l.generatorCPU)
			}
			errs := ""
			if l.non2xx+l.errs > 0 {
				errs = fmt.Sprintf(", %d non-200, %d socket errors", l.non2xx, l.errs)
			}
			rows = append(rows, row{figure: "throughput, local server, status (" + l.tool + ")",
				ours:   fmt.Sprintf("%.0f req/s, p50 %s, p99 %s%s", l.rps, l.p50, l.p99, errs),
				budget: "context only", ratio: "—", baseline: cpu, result: info})
		}
	}

	// 6. Cost.
	if !det {
		for _, c := range costs(r.cold["status"].warm.median(), r.cold["link-new"].warm.median()) {
			rows = append(rows, row{figure: "cost per million " + c.name + " calls (" + fmt.Sprint(c.billedMs) + " ms billed)",
				ours:     fmt.Sprintf("$%.2f", c.total),
				baseline: fmt.Sprintf("Lambda $%.3f · HTTP API $%.2f · DynamoDB $%.3f · Secrets $%.3f", c.lambda, c.api, c.ddb, c.sm),
				ratio:    "—", budget: "—", result: info})
		}
	}
	return rows
}

func (r *report) failures() []string {
	var out []string
	for _, rw := range r.rows() {
		if rw.result == fail {
			out = append(out, rw.broken)
		}
	}
	return out
}

func cell(s string) string {
	if s == "" {
		return "—"
	}
	return strings.ReplaceAll(s, "|", "\\|")
}

func (r *report) heading() string {
	return fmt.Sprintf("%s, %s — %s, %s", r.when.Format("2006-01-02 15:04 UTC"), r.machine, r.goVer, r.mode())
}

// table is the one Markdown table (stdout and results.md).
func (r *report) table() string {
	var b bytes.Buffer
	b.WriteString("| Figure | Ours: median (spread) | Baseline, same run | Ratio | Budget | Result |\n")
	b.WriteString("|---|---|---|---|---|---|\n")
	for _, rw := range r.rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", cell(rw.figure), cell(rw.ours), cell(rw.baseline), cell(rw.ratio), cell(rw.budget), cell(rw.result))
	}
	return b.String()
}

func (r *report) markdown(table string) string {
	var b bytes.Buffer
	b.WriteString("# Performance: `make bench`\n\n")
	fmt.Fprintf(&b, "Generated by `go run ./cmd/bench` (%s) on %s.\n\n", r.mode(), r.when.Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(&b, "- Machine: %s (`uname -m`, CPU model, cores); %s.\n", r.machine, r.goVer)
	fmt.Fprintf(&b, "- Took %s: %s.\n", r.took.Round(time.Second), strings.Join(r.phases, ", "))
	fmt.Fprintf(&b, "- Load average (1/5/15 min) at the start: %s; at the end: %s (%d cores; the machine is shared, so timings carry other work's noise).\n", r.load0, r.load1, runtime.NumCPU())
	if !r.cfg.deterministic {
		fmt.Fprintf(&b, "- Cold starts: %d rounds (plus one untimed), every case once per round in a new random order; spread = p25–p75.\n", r.cfg.runs)
	}
	fmt.Fprintf(&b, "- In process: %d runs of `testing.Benchmark` (benchtime %s) per handler and per baseline, each pair back to back in alternating order; spread = min–max. The overhead ratio is the median (min–max) over the runs of a paired ratio: 400 handler and baseline calls timed one by one, alternating which goes first, total over total, which cancels the machine's drift.\n\n", r.cfg.warmReps, r.cfg.benchtime)
	b.WriteString(table)
	if fails := r.failures(); len(fails) > 0 {
		fmt.Fprintf(&b, "\n**%d budget(s) broken in this run** (budgets in cmd/bench/budgets.go):\n\n", len(fails))
		for _, f := range fails {
			fmt.Fprintf(&b, "- %s\n", f)
		}
	} else {
		fmt.Fprintf(&b, "\nAll %s budgets met in this run (cmd/bench/budgets.go).\n", r.scope())
	}
	b.WriteString(methodNotes(r.builtBy))
	if !r.cfg.deterministic {
		statusMs, linkMs := r.cold["status"].warm.median(), r.cold["link-new"].warm.median()
		b.WriteString("\n## Cost per million calls\n\n")
		b.WriteString(costAssumptions(statusMs, linkMs))
		b.WriteString("\n| Calls | Lambda (requests + duration) | HTTP API | DynamoDB | Secrets Manager | Total per million |\n|---|---|---|---|---|---|\n")
		for _, c := range costs(statusMs, linkMs) {
			fmt.Fprintf(&b, "| %s (%g ms billed) | $%.4f | $%.2f | $%.4f | $%.4f | **$%.2f** |\n", c.name, c.billedMs, c.lambda, c.api, c.ddb, c.sm, c.total)
		}
		b.WriteString("\nDerivation:\n\n")
		for _, c := range costs(statusMs, linkMs) {
			fmt.Fprintf(&b, "- %s: %s.\n", c.name, c.derivation)
		}
		b.WriteString("\nSensitivity (durations closer to AWS, where the round trips leave loopback):\n\n")
		for _, c := range costs(10, 150) {
			fmt.Fprintf(&b, "- %s at %g ms billed: $%.2f per million.\n", c.name, c.billedMs, c.total)
		}
	}
	return b.String()
}

func methodNotes(builtBy string) string {
	return `
## How each figure is measured

- **Cold start / init cost**: each real ` + "`bootstrap`" + `, built for this machine with the Lambda flags
  (CGO_ENABLED=0, -tags lambda.norpc, -trimpath, -ldflags="-s -w"), runs as a fresh process behind
  the Runtime API harness (cmd/invoke/runtimeapi) against a devenv stack on loopback (moto_server
  behind devenv's proxy, the Toss simulator). "Cold" is process start → first response
  (` + "`Result.SinceStart`" + `); "warm" is the duration of a second invocation right after, in the same
  process, doing the same work (` + "`Result.Elapsed`" + `); init cost = cold − warm, per run, then the median.
  The baseline is cmd/bench/emptyfn (aws-lambda-go, same event type, fixed answer) through the same
  harness with the same environment. Events: status = events/status.json (unmapped hash, 1
  GetItem); link = events/link.json on a hash that is already mapped (1 GetItem: the one link
  path whose two invocations do identical work); unlink = events/unlink-get.json for a mapped user
  (the secret fetch, GetItem, TransactWriteItems); "new link" (context, no budget) links two fresh
  users, so its cold invocation also pays the Secrets Manager read and the mTLS handshake.
- **Init cost, instant AWS endpoint** (attribution, no budget): the same cold starts again, in
  the same run, with AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL_SECRETS_MANAGER pointed at the
  instant endpoint described next (any 200 accepted: its GetItem always finds an item). moto
  answers in about 5 ms with a millisecond of jitter per call; here each round trip costs about
  0.1–0.3 ms, so cold − warm is the function's own start: package init, clients, first use of
  each SDK client, first connections.
- **Warm in process**: the handlers as shared/app wires them, called with the fixture events and a
  Lambda context, against an in-process HTTP endpoint that answers GetItem / TransactWriteItems /
  GetSecretValue at once with minimal valid JSON (and X-Amz-Crc32, as DynamoDB does), logging as
  JSON to io.Discard. Baseline: the bare SDK calls the handler cannot avoid (status and link on a
  mapped hash: the store's GetItem; unlink: its GetItem + TransactWriteItems) with the same inputs,
  same client, same endpoint. The new link is measured separately against the Toss simulator in
  the same process over mTLS: it has no bare equivalent, and its allocations include the
  simulator's server side. ` + "`go test -bench . -benchmem ./cmd/bench`" + ` runs the same benchmarks.
- **Sizes**: linux/arm64 artifacts built by ` + builtBy + `; the baseline with the same command line;
  zip = the bootstrap alone, deflate, mode 0755, as SAM packages it.
- **Calls per request**: through the real binaries and the harness, counted at the transport:
  devenv's proxy (every AWS request, by X-Amz-Target) and the simulator (requests per endpoint,
  completed TLS handshakes). Init = start the binary, wait for its first /invocation/next, count.
- **Throughput**: cmd/local (the same handlers behind net/http), status only, on loopback.
  Context only: devenv's proxy lets one request at a time into moto_server (a Python process), so
  the figure is moto's, not ours; the CPU split shows it.
`
}
