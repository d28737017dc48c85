// Command bench measures migrationctl's scanning commands over 100,000 mappings: stats, export
// and coverage, as the operator runs them (the built binary, in its own process), with rows per
// second and the process's peak resident memory (maximum RSS, as /usr/bin/time reports it). It
// runs against DynamoDB Local when DYNAMODB_LOCAL_ENDPOINT names one, else against moto_server:
// far slower (its Scan walks the whole table for every page) and serialised by devenv's proxy, so
// there it measures 10,000 mappings once, and says so.
//
//	go run ./cmd/migrationctl/bench [-mappings N] [-reps N] [-out bench/migrationctl.md]
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/seed"
)

type settings struct {
	mappings, small, reps int
	out                   string
}

func main() {
	var s settings
	flag.IntVar(&s.mappings, "mappings", 0, "mappings in the measured table (default 100,000; 10,000 on moto_server)")
	flag.IntVar(&s.small, "small", 0, "mappings in the second table, to see that export's memory does not grow with the table (default a tenth)")
	flag.IntVar(&s.reps, "reps", 0, "runs of each case, the median reported (default 3; 1 on moto_server)")
	flag.StringVar(&s.out, "out", "", "also write the results to this Markdown file")
	flag.Parse()
	if err := run(context.Background(), s); err != nil {
		fmt.Fprintln(os.Stderr, "migrationctl bench:", err)
		os.Exit(1)
	}
}

// target is the DynamoDB the bench talks to.
type target struct {
	name, endpoint string
	moto           bool
	db             *dynamodb.Client
	close          func()
}

func open(ctx context.Context) (target, error) {
	if ep := os.Getenv("DYNAMODB_LOCAL_ENDPOINT"); ep != "" {
		db := dynamodb.NewFromConfig(aws.Config{Region: devenv.Region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
			func(o *dynamodb.Options) { o.BaseEndpoint = &ep })
		return target{"DynamoDB Local (" + ep + ")", ep, false, db, func() {}}, nil
	}
	m, err := devenv.StartMoto(ctx)
	if err != nil {
		return target{}, err
	}
	return target{"moto_server behind devenv's serialising proxy (DYNAMODB_LOCAL_ENDPOINT unset: set it for the 100,000-mapping figures)",
		m.Endpoint, true, m.DynamoDB(), m.Close}, nil
}

type measurement struct {
	wall  time.Duration
	rssKB int64
	out   []byte
}

type row struct {
	command, note string
	rows          int
	m             measurement // the median run
	check         string      // what the output was checked against
}

func run(ctx context.Context, s settings) error {
	tgt, err := open(ctx)
	if err != nil {
		return err
	}
	defer tgt.close()
	// moto's Scan walks the whole table for every page: 100,000 mappings would take hours there.
	if s.mappings == 0 {
		s.mappings = cmp.Or(map[bool]int{true: 10_000}[tgt.moto], 100_000)
	}
	if s.reps == 0 {
		s.reps = cmp.Or(map[bool]int{true: 1}[tgt.moto], 3)
	}
	if s.small == 0 {
		s.small = max(s.mappings/10, 1)
	}
	dir, err := os.MkdirTemp("", "ctlbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "migrationctl")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/migrationctl").CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/migrationctl: %v\n%s", err, out)
	}

	fmt.Fprintf(os.Stderr, "seeding %d + %d mappings into %s ...\n", s.mappings, s.small, tgt.name)
	big, seedTook, err := makeTable(ctx, tgt.db, s.mappings, 1_000)
	if err != nil {
		return err
	}
	small, _, err := makeTable(ctx, tgt.db, s.small, 100)
	if err != nil {
		return err
	}

	// The studio's list: every other mapped user, and as many it never saw linked.
	var list100k, list1k, list10k bytes.Buffer
	for i := range s.mappings {
		k := userKey(i)
		if i%2 == 1 {
			k = 9_000_000_000 + int64(i) // never linked
		}
		fmt.Fprintln(&list100k, k)
		if i < 10_000 {
			fmt.Fprintln(&list10k, k)
		}
		if i < 1_000 {
			fmt.Fprintln(&list1k, k)
		}
	}
	files := map[string]string{}
	for name, b := range map[string]*bytes.Buffer{"100k": &list100k, "10k": &list10k, "1k": &list1k} {
		files[name] = filepath.Join(dir, "legacy-"+name+".txt")
		if err := os.WriteFile(files[name], b.Bytes(), 0o600); err != nil {
			return err
		}
	}

	ctl := func(table string, args ...string) []string {
		return append([]string{"--json", "--table", table, "--region", devenv.Region, "--dynamodb-endpoint", tgt.endpoint}, args...)
	}
	type bcase struct {
		command, note string
		table         string
		args          []string
		rows          int
		check         func(out []byte) (string, error)
	}
	n := s.mappings
	statsCheck := func(want int) func([]byte) (string, error) {
		return func(out []byte) (string, error) {
			var r struct{ Mapped int }
			if err := json.Unmarshal(out, &r); err != nil || r.Mapped != want {
				return "", fmt.Errorf("stats said mapped %d (%v), want %d", r.Mapped, err, want)
			}
			return fmt.Sprintf("mapped = %d", want), nil
		}
	}
	linesCheck := func(want int) func([]byte) (string, error) {
		return func(out []byte) (string, error) {
			if got := bytes.Count(out, []byte("\n")); got != want {
				return "", fmt.Errorf("%d lines, want %d", got, want)
			}
			return fmt.Sprintf("%d lines", want), nil
		}
	}
	coverageCheck := func(users int) func([]byte) (string, error) {
		return func(out []byte) (string, error) {
			var r struct{ Users, Mapped int }
			if err := json.Unmarshal(out, &r); err != nil || r.Users != users || r.Mapped != users/2 {
				return "", fmt.Errorf("coverage said %d of %d (%v), want %d of %d", r.Mapped, r.Users, err, users/2, users)
			}
			return fmt.Sprintf("%d of %d mapped", r.Mapped, r.Users), nil
		}
	}
	cases := []bcase{
		{"stats", "--segments 1", big, []string{"stats", "--segments", "1"}, n, statsCheck(n)},
		{"stats", "--segments 4 (default)", big, []string{"stats"}, n, statsCheck(n)},
		{"stats", "--segments 8", big, []string{"stats", "--segments", "8"}, n, statsCheck(n)},
		{"export", "jsonl, --segments 1", big, []string{"export", "--segments", "1"}, n, linesCheck(n)},
		{"export", "jsonl, --segments 4 (default)", big, []string{"export"}, n, linesCheck(n)},
		{"export", "jsonl, --segments 8", big, []string{"export", "--segments", "8"}, n, linesCheck(n)},
		{"export", "csv, --segments 4", big, []string{"export", "--format", "csv"}, n, linesCheck(n + 1)},
		{"export", fmt.Sprintf("jsonl, a %d-mapping table", s.small), small, []string{"export"}, s.small, linesCheck(s.small)},
		{"coverage", "100k list, --method batch", big, []string{"coverage", "--user-keys", files["100k"], "--method", "batch", "--summary"}, n, coverageCheck(n)},
		{"coverage", "100k list, --method scan", big, []string{"coverage", "--user-keys", files["100k"], "--method", "scan", "--summary"}, n, coverageCheck(n)},
		{"coverage", "10k list, --method batch", big, []string{"coverage", "--user-keys", files["10k"], "--method", "batch", "--summary"}, min(n, 10_000), coverageCheck(min(n, 10_000))},
		{"coverage", "10k list, --method scan", big, []string{"coverage", "--user-keys", files["10k"], "--method", "scan", "--summary"}, min(n, 10_000), coverageCheck(min(n, 10_000))},
		{"coverage", "1k list, --method batch", big, []string{"coverage", "--user-keys", files["1k"], "--method", "batch", "--summary"}, min(n, 1_000), coverageCheck(min(n, 1_000))},
		{"coverage", "1k list, --method scan", big, []string{"coverage", "--user-keys", files["1k"], "--method", "scan", "--summary"}, min(n, 1_000), coverageCheck(min(n, 1_000))},
		{"coverage", "100k list, auto (listing the unmapped)", big, []string{"coverage", "--user-keys", files["100k"]}, n, coverageCheck(n)},
	}
	// One untimed run first: a JVM-based DynamoDB Local answers its first scan slowly.
	if _, err := measure(bin, ctl(big, "stats")); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	var rows []row
	for _, c := range cases {
		args := ctl(c.table, c.args...)
		var runs []measurement
		var checked string
		for range s.reps {
			m, err := measure(bin, args)
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.command, c.note, err)
			}
			if checked, err = c.check(m.out); err != nil {
				return fmt.Errorf("%s %s: %w", c.command, c.note, err)
			}
			m.out = nil
			runs = append(runs, m)
		}
		slices.SortFunc(runs, func(a, b measurement) int { return int(a.wall - b.wall) })
		r := row{c.command, c.note, c.rows, runs[len(runs)/2], checked}
		rows = append(rows, r)
		fmt.Fprintf(os.Stderr, "  %-8s %-42s %8.2fs %10.0f rows/s %7.1f MiB\n", r.command, r.note, r.m.wall.Seconds(),
			float64(r.rows)/r.m.wall.Seconds(), float64(r.m.rssKB)/1024)
	}
	report := markdown(tgt.name, s, seedTook, rows)
	fmt.Print(report)
	if s.out != "" {
		if err := os.WriteFile(s.out, []byte(report), 0o644); err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "written to", s.out)
	}
	return nil
}

func userKey(i int) int64 { return 100_000_000 + int64(i) }

// makeTable creates a table holding n mappings linked over 60 days and some tombstones.
func makeTable(ctx context.Context, db *dynamodb.Client, n, tombstones int) (string, time.Duration, error) {
	name := "ctlbench-" + devenv.Unique()
	if err := devenv.CreateTable(ctx, db, name); err != nil {
		return "", 0, err
	}
	start := time.Now()
	day0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	items := make([]seed.Item, 0, 2*n+tombstones)
	for i := range n {
		at := day0.Add(time.Duration(i%60)*24*time.Hour + time.Duration(i)*time.Millisecond)
		items = append(items, seed.Linked(fmt.Sprintf("hash-%07d-%s", i, strconv.FormatInt(int64(i*7919), 36)), userKey(i), at, nil)...)
	}
	for i := range tombstones {
		items = append(items, seed.Unlinked(8_000_000_000+int64(i), "", []string{"UNLINK", "WITHDRAWAL_TERMS", "WITHDRAWAL_TOSS"}[i%3], day0))
	}
	if err := seed.Write(ctx, db, name, items, 8); err != nil {
		return "", 0, err
	}
	return name, time.Since(start), nil
}

// measure runs the binary once under /usr/bin/time, for its wall time and peak RSS. The child's
// own rusage would not do: os/exec starts it with vfork semantics, so its ru_maxrss includes
// this (seeding, much larger) process's memory; time forks itself first.
func measure(bin string, args []string) (measurement, error) {
	timeBin, err := exec.LookPath("/usr/bin/time")
	if err != nil {
		return measurement{}, fmt.Errorf("GNU time is needed for peak memory: apt-get install time")
	}
	rssFile, err := os.CreateTemp("", "ctlbench-rss-")
	if err != nil {
		return measurement{}, err
	}
	rssFile.Close()
	defer os.Remove(rssFile.Name())
	cmd := exec.Command(timeBin, append([]string{"-f", "%M", "-o", rssFile.Name(), bin}, args...)...)
	cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=test", "AWS_SECRET_ACCESS_KEY=test", "AWS_EC2_METADATA_DISABLED=true")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err = cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return measurement{}, fmt.Errorf("%v: %s", err, strings.TrimSpace(errOut.String()))
	}
	raw, err := os.ReadFile(rssFile.Name())
	if err != nil {
		return measurement{}, err
	}
	fields := strings.Fields(string(raw))
	if len(fields) == 0 {
		return measurement{}, fmt.Errorf("time -f %%M wrote %q", raw)
	}
	rss, err := strconv.ParseInt(fields[len(fields)-1], 10, 64)
	if err != nil {
		return measurement{}, fmt.Errorf("time -f %%M wrote %q", raw)
	}
	return measurement{wall: wall, rssKB: rss, out: out.Bytes()}, nil
}

func markdown(target string, s settings, seedTook time.Duration, rows []row) string {
	var b strings.Builder
	w := bufio.NewWriter(&b)
	fmt.Fprintf(w, "# migrationctl over %d mappings\n\n", s.mappings)
	fmt.Fprintf(w, "Measured by `go run ./cmd/migrationctl/bench` (part of `make bench`) on %s, %s/%s, %d CPUs, %s.\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	fmt.Fprintf(w, "Target: %s. Table: %d mappings (%d items with 1,000 tombstones), seeded in %s.\n",
		target, s.mappings, 2*s.mappings+1000, seedTook.Round(time.Second))
	fmt.Fprintf(w, "Each row is the median of %d runs of the built binary in its own process; peak memory is its\n", s.reps)
	fmt.Fprintf(w, "maximum resident set size (/usr/bin/time). Every run's output was checked (last column). The machine is\n")
	fmt.Fprintf(w, "shared (2 cores, other jobs running): compare rows of one run, not runs of different days.\n\n")
	fmt.Fprintln(w, "| command | case | rows | wall | rows/s | peak RSS | output checked |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---|")
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %s | %d | %.2f s | %.0f | %.1f MiB | %s |\n", r.command, r.note, r.rows, r.m.wall.Seconds(),
			float64(r.rows)/r.m.wall.Seconds(), float64(r.m.rssKB)/1024, r.check)
	}
	// The coverage rule: how many table items a scan reads in the time a batched read settles one key.
	var batch, scan, items float64
	for _, r := range rows {
		switch r.note {
		case "100k list, --method batch":
			batch = r.m.wall.Seconds() / float64(r.rows)
		case "100k list, --method scan":
			scan = r.m.wall.Seconds()
			items = float64(2*s.mappings + 1000)
		}
	}
	if batch > 0 && scan > 0 {
		fmt.Fprintf(w, "\nCoverage: a batched read settles one userKey in %.1f µs; a scan reads the table's %d items in %.2f s,\n",
			batch*1e6, int(items), scan)
		fmt.Fprintf(w, "%.1f µs an item, so one batched key costs as much time as scanning %.1f items.\n", scan/items*1e6, batch/(scan/items))
	}
	w.Flush()
	return b.String()
}
