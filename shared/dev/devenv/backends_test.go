package devenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/dev/ddblocal"
)

func TestMain(m *testing.M) { RunTests(m) }

func TestConcurrentProxyLetsRequestsThroughAtOnce(t *testing.T) {
	// The target answers only once both requests have reached it: through a proxy with a lane
	// this never happens (the test then hangs until go test's -timeout, a failure).
	const n = 2
	var arrived sync.WaitGroup
	arrived.Add(n)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived.Done()
		arrived.Wait()
		w.Write([]byte("ok"))
	}))
	defer target.Close()
	p, err := NewConcurrentProxy(target.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			resp, err := http.Get(p.URL())
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		}()
	}
	done.Wait()
	if c := p.Calls()["GET /"]; c != n {
		t.Fatalf("proxy counted %d calls, want %d", c, n)
	}
}

func TestStackTakesDynamoDBFromDynamoDBLocalByDefault(t *testing.T) {
	t.Setenv(EnvDynamoDB, "")
	s := ForTest(t, Options{})
	if got := s.Moto.DynamoDBServer(); got != DynamoDBLocal {
		t.Fatalf("DynamoDB from %q, want %q", got, DynamoDBLocal)
	}
	// The table lives in the binary's DynamoDB Local, reached through the stack's proxy.
	if _, err := ddblocal.TestServer(t).Client().DescribeTable(context.Background(),
		&dynamodb.DescribeTableInput{TableName: &s.Table}); err != nil {
		t.Fatalf("the stack's table is not in DynamoDB Local: %v", err)
	}
	s.Moto.Proxy.ResetCalls()
	if _, err := s.DB.DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: &s.Table}); err != nil {
		t.Fatal(err)
	}
	if c := s.Moto.Proxy.Calls()["DynamoDB_20120810.DescribeTable"]; c != 1 {
		t.Fatalf("the proxy counted %d DescribeTable calls, want 1: faults and budgets need it", c)
	}
	// Secrets Manager stays on moto_server.
	if s.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER") == s.Getenv("AWS_ENDPOINT_URL_DYNAMODB") {
		t.Fatal("Secrets Manager and DynamoDB share an endpoint")
	}
	if _, err := s.SM.GetSecretValue(context.Background(), &secretsmanager.GetSecretValueInput{SecretId: &s.SecretID}); err != nil {
		t.Fatalf("the stack's secret: %v", err)
	}
}

func TestBackendsCanStillTakeDynamoDBFromMoto(t *testing.T) {
	m := TestBackends(t, DynamoDBMoto)
	if got := m.DynamoDBServer(); got != DynamoDBMoto {
		t.Fatalf("DynamoDB from %q, want moto", got)
	}
	name := "devenv-moto-" + Unique()
	if err := CreateTable(context.Background(), m.DynamoDB(), name); err != nil {
		t.Fatal(err)
	}
	if _, err := ddblocal.TestServer(t).Client().DescribeTable(context.Background(),
		&dynamodb.DescribeTableInput{TableName: aws.String(name)}); err == nil {
		t.Fatal("a table made on moto appeared in DynamoDB Local")
	}
}

func TestDynamoDBSourceFollowsTheEnvironment(t *testing.T) {
	for env, want := range map[string]DynamoDBSource{"": DynamoDBLocal, "local": DynamoDBLocal, "moto": DynamoDBMoto} {
		t.Setenv(EnvDynamoDB, env)
		if got, err := DynamoDBDefault.resolve(); err != nil || got != want {
			t.Errorf("%s=%q: %q %v, want %q", EnvDynamoDB, env, got, err, want)
		}
	}
	t.Setenv(EnvDynamoDB, "moto")
	if got, _ := DynamoDBLocal.resolve(); got != DynamoDBLocal {
		t.Errorf("an explicit source must win over %s: %q", EnvDynamoDB, got)
	}
	t.Setenv(EnvDynamoDB, "dynamo")
	if _, err := DynamoDBDefault.resolve(); err == nil || !strings.Contains(err.Error(), EnvDynamoDB) {
		t.Errorf("%s=dynamo: %v, want an error naming the variable", EnvDynamoDB, err)
	}
}

func TestMotoServerIsFoundInTheProjectVirtualenv(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, ".cache", "venv", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"go.mod": "module x\n", ".cache/venv/bin/moto_server": "#!/bin/sh\n"} {
		if err := os.WriteFile(filepath.Join(root, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(root)
	t.Setenv("PATH", t.TempDir())
	if got, err := motoServer(); err != nil || got != filepath.Join(bin, "moto_server") {
		t.Fatalf("motoServer() = %s %v", got, err)
	}
	os.Remove(filepath.Join(bin, "moto_server"))
	if _, err := motoServer(); err == nil || !strings.Contains(err.Error(), "make deps") {
		t.Fatalf("without moto_server: %v, want the hint", err)
	}
}
