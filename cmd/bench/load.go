package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devenv"
)

// The throughput of the local server (cmd/local: the status handler behind net/http, DynamoDB on
// moto_server behind devenv's one-request-at-a-time proxy), for context only: moto_server, a
// single Python process the proxy serialises requests into, is the bottleneck, not the handler.

const (
	loadConns = 8
	loadBody  = `{"hash":"demo-hash-1"}`
	loadPath  = "/api/auth/migration/status"
)

type loadResult struct {
	tool                  string // the generator and its settings
	duration              time.Duration
	rps                   float64
	p50, p99              string
	non2xx, errs          int
	localCPU, motoCPU     float64 // % of one core over the run
	generatorCPU          float64
	haveMoto, haveGenUsed bool
}

// measureLoad builds and starts cmd/local on free loopback ports, waits until status answers,
// and drives it for d with wrk (else hey, else a built-in Go generator).
func measureLoad(ctx context.Context, root, dir string, d time.Duration) (*loadResult, error) {
	bin := filepath.Join(dir, "local")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/local")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build cmd/local: %v\n%s", err, out)
	}
	var ports [3]int
	for i := range ports {
		p, err := devenv.FreePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	logFile, err := os.Create(filepath.Join(dir, "local.log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	srv := exec.Command(bin, "-addr", addr,
		"-sandbox", fmt.Sprintf("127.0.0.1:%d", ports[1]), "-toss-api", fmt.Sprintf("127.0.0.1:%d", ports[2]))
	srv.Dir = root
	srv.Stdout, srv.Stderr = logFile, logFile // one log line per request: kept out of the terminal
	srv.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	defer stopLocal(srv)

	url := "http://" + addr + loadPath
	if err := waitStatus(ctx, url, 60*time.Second); err != nil {
		tail, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("cmd/local did not answer: %w\n%s", err, lastLines(tail, 20))
	}
	motoPid := findChild(srv.Process.Pid, "moto_server")

	res := &loadResult{duration: d, haveMoto: motoPid > 0}
	run := pickGenerator(dir, url)
	if _, err := run(ctx, time.Second, res); err != nil { // warm-up, not measured
		return nil, err
	}
	l0, m0 := cpuTicks(srv.Process.Pid), cpuTicks(motoPid)
	start := time.Now()
	gen, err := run(ctx, d, res)
	if err != nil {
		return nil, err
	}
	wall := time.Since(start).Seconds()
	l1, m1 := cpuTicks(srv.Process.Pid), cpuTicks(motoPid)
	res.localCPU = float64(l1-l0) / clkTck / wall * 100
	res.motoCPU = float64(m1-m0) / clkTck / wall * 100
	if gen > 0 {
		res.generatorCPU, res.haveGenUsed = gen.Seconds()/wall*100, true
	}
	return res, nil
}

// generator runs the load for d, fills res and returns the CPU time it used itself (0: unknown).
type generator func(ctx context.Context, d time.Duration, res *loadResult) (time.Duration, error)

func pickGenerator(dir, url string) generator {
	if wrk, err := exec.LookPath("wrk"); err == nil {
		script := filepath.Join(dir, "status.lua")
		_ = os.WriteFile(script, []byte("wrk.method = \"POST\"\nwrk.body = '"+loadBody+"'\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"), 0o600)
		return func(ctx context.Context, d time.Duration, res *loadResult) (time.Duration, error) {
			dur := fmt.Sprintf("%ds", int(d.Seconds()))
			res.tool = fmt.Sprintf("wrk -t1 -c%d -d%s --latency (POST %s)", loadConns, dur, loadBody)
			cmd := exec.CommandContext(ctx, wrk, "-t1", fmt.Sprintf("-c%d", loadConns), "-d"+dur, "--latency", "-s", script, url)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return 0, fmt.Errorf("wrk: %v\n%s", err, out)
			}
			s := string(out)
			res.rps = atof(match(s, `Requests/sec:\s+([\d.]+)`))
			res.p50, res.p99 = match(s, `\s50%\s+(\S+)`), match(s, `\s99%\s+(\S+)`)
			res.non2xx = atoi(match(s, `Non-2xx or 3xx responses:\s+(\d+)`))
			if m := regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`).FindStringSubmatch(s); m != nil {
				res.errs = atoi(m[1]) + atoi(m[2]) + atoi(m[3]) + atoi(m[4])
			}
			return cpuOf(cmd), nil
		}
	}
	if hey, err := exec.LookPath("hey"); err == nil {
		return func(ctx context.Context, d time.Duration, res *loadResult) (time.Duration, error) {
			res.tool = fmt.Sprintf("hey -z %s -c %d (POST %s)", d, loadConns, loadBody)
			cmd := exec.CommandContext(ctx, hey, "-z", d.String(), "-c", strconv.Itoa(loadConns), "-m", "POST",
				"-T", "application/json", "-d", loadBody, url)
			out, err := cmd.CombinedOutput()
			if err != nil {
				return 0, fmt.Errorf("hey: %v\n%s", err, out)
			}
			s := string(out)
			res.rps = atof(match(s, `Requests/sec:\s+([\d.]+)`))
			res.p50 = secs(match(s, `50%+ in ([\d.]+) secs`))
			res.p99 = secs(match(s, `99%+ in ([\d.]+) secs`))
			for _, m := range regexp.MustCompile(`\[(\d+)\]\s+(\d+) responses`).FindAllStringSubmatch(s, -1) {
				if m[1] != "200" {
					res.non2xx += atoi(m[2])
				}
			}
			return cpuOf(cmd), nil
		}
	}
	return builtinLoad(url)
}

// builtinLoad is a small closed-loop generator: loadConns goroutines, keep-alive connections.
func builtinLoad(url string) generator {
	return func(ctx context.Context, d time.Duration, res *loadResult) (time.Duration, error) {
		res.tool = fmt.Sprintf("built-in Go generator (%d connections, %s; wrk and hey not installed)", loadConns, d)
		tr := &http.Transport{MaxIdleConnsPerHost: loadConns}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		deadline := time.Now().Add(d)
		var mu sync.Mutex
		var lat []time.Duration
		var non2xx, errs int
		var wg sync.WaitGroup
		for range loadConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(deadline) && ctx.Err() == nil {
					t := time.Now()
					resp, err := client.Post(url, "application/json", strings.NewReader(loadBody))
					if err != nil {
						mu.Lock()
						errs++
						mu.Unlock()
						continue
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					mine = append(mine, time.Since(t))
					if resp.StatusCode != 200 {
						mu.Lock()
						non2xx++
						mu.Unlock()
					}
				}
				mu.Lock()
				lat = append(lat, mine...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		slices.Sort(lat)
		res.rps = float64(len(lat)) / d.Seconds()
		if len(lat) > 0 {
			res.p50 = lat[len(lat)/2].Round(10 * time.Microsecond).String()
			res.p99 = lat[len(lat)*99/100].Round(10 * time.Microsecond).String()
		}
		res.non2xx, res.errs = non2xx, errs
		return 0, nil
	}
}

func waitStatus(ctx context.Context, url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		resp, err := http.Post(url, "application/json", strings.NewReader(loadBody))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
			err = fmt.Errorf("status %d: %s", resp.StatusCode, body)
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stopLocal interrupts cmd/local (it then stops moto_server and the simulator), or kills it.
func stopLocal(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// findChild returns the pid of a descendant of pid whose command line contains name (0: none).
// It reads the parent of every process in /proc (children files are not always available).
func findChild(pid int, name string) int {
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		parent := map[int]int{}
		dirs, _ := filepath.Glob("/proc/[0-9]*")
		for _, d := range dirs {
			c, _ := strconv.Atoi(filepath.Base(d))
			if f := statFields(c); len(f) > 1 {
				parent[c], _ = strconv.Atoi(f[1]) // field 4 of stat: ppid
			}
		}
		for c := range parent {
			for p := parent[c]; p > 1; p = parent[p] {
				if p == pid {
					cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
					if bytes.Contains(cmdline, []byte(name)) {
						return c
					}
					break
				}
			}
		}
	}
	return 0
}

// statFields are the fields of /proc/<pid>/stat after the command name (state is [0]).
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')') // the command name may hold spaces
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// clkTck is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clkTck = 100

// cpuTicks is utime+stime of pid (0 when unknown).
func cpuTicks(pid int) int64 {
	if pid <= 0 {
		return 0
	}
	f := statFields(pid)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64) // field 14 of stat
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u + st
}

func cpuOf(cmd *exec.Cmd) time.Duration {
	if cmd.ProcessState == nil {
		return 0
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

func match(s, re string) string {
	m := regexp.MustCompile(re).FindStringSubmatch(s)
	if m == nil {
		return ""
	}
	return m[1]
}

func atof(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v }
func atoi(s string) int     { v, _ := strconv.Atoi(s); return v }

func secs(s string) string {
	if s == "" {
		return ""
	}
	return (time.Duration(atof(s) * float64(time.Second))).Round(10 * time.Microsecond).String()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
