package main

// These tests run the whole CLI in process (run, with its stdin, stdout, stderr and environment
// given) against tables on moto_server, which devenv starts. Most go through --local with a state
// file naming the test's table, as `make run` writes it; others name the table with --table and
// --dynamodb-endpoint, as an operator pointing at DynamoDB Local would.

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localstate"
	"github.com/tossgame/migration-server/shared/dev/seed"
)

func TestMain(m *testing.M) { devenv.RunTests(m) }

// env is one test's world: a table, a state file pointing at it, the environment run sees.
type env struct {
	t        *testing.T
	db       *dynamodb.Client
	table    string
	endpoint string // DynamoDB's
	moto     string // moto_server's: Secrets Manager, STS, SQS, CloudFormation, Lambda
	state    localstate.State
	vars     map[string]string
	terminal bool
	awsOpts  []func(*config.LoadOptions) error // beyond the test credentials
}

func newEnv(t *testing.T) *env {
	t.Helper()
	m := devenv.TestMoto(t)
	e := &env{t: t, db: m.DynamoDB(), table: "ctl-test-" + devenv.Unique(), endpoint: m.Endpoint, moto: m.Secrets}
	if err := devenv.CreateTable(context.Background(), e.db, e.table); err != nil {
		t.Fatal(err)
	}
	e.state = localstate.State{PID: os.Getpid(), Region: devenv.Region, DynamoDB: m.Endpoint, SecretsManager: m.Secrets,
		SQS: m.SQSEndpoint(), Table: e.table}
	e.vars = map[string]string{"USER": "tester"}
	e.writeState()
	return e
}

// writeState (re)writes the state file from e.state.
func (e *env) writeState() {
	e.t.Helper()
	path := filepath.Join(e.t.TempDir(), "local-stack.json")
	if err := localstate.Write(path, e.state); err != nil {
		e.t.Fatal(err)
	}
	e.vars[localstate.EnvPath] = path
}

func (e *env) seed(items ...seed.Item) {
	e.t.Helper()
	if err := seed.Write(context.Background(), e.db, e.table, items, 4); err != nil {
		e.t.Fatal(err)
	}
}

type result struct {
	stdout, stderr string
	code           int
}

// ctl runs migrationctl with args and stdin.
func (e *env) ctl(stdin string, args ...string) result {
	e.t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, sys{
		stdin: strings.NewReader(stdin), stdout: &out, stderr: &errOut,
		getenv: func(k string) string { return e.vars[k] }, stderrTerminal: e.terminal,
		awsOptions: append([]func(*config.LoadOptions) error{
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("test", "test", "")),
		}, e.awsOpts...),
	})
	return result{out.String(), errOut.String(), code}
}

// ok runs migrationctl and fails the test unless it exits 0 with nothing on stderr.
func (e *env) ok(stdin string, args ...string) string {
	e.t.Helper()
	r := e.ctl(stdin, args...)
	if r.code != 0 || r.stderr != "" {
		e.t.Fatalf("migrationctl %s: exit %d\nstderr: %s\nstdout: %s", strings.Join(args, " "), r.code, r.stderr, r.stdout)
	}
	return r.stdout
}

// okJSON runs migrationctl --json and decodes its answer into a generic value.
func (e *env) okJSON(args ...string) any {
	e.t.Helper()
	var v any
	out := e.ok("", append([]string{"--json"}, args...)...)
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		e.t.Fatalf("migrationctl --json %s printed no JSON: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// snapshot is the table's every item, for "nothing changed" checks.
func (e *env) snapshot() map[string]map[string]types.AttributeValue {
	e.t.Helper()
	all := map[string]map[string]types.AttributeValue{}
	p := dynamodb.NewScanPaginator(e.db, &dynamodb.ScanInput{TableName: &e.table, ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			e.t.Fatal(err)
		}
		for _, it := range out.Items {
			all[it["pk"].(*types.AttributeValueMemberS).Value] = it
		}
	}
	return all
}

// unchanged fails the test when fn changes the table.
func (e *env) unchanged(fn func()) {
	e.t.Helper()
	before := e.snapshot()
	fn()
	if after := e.snapshot(); !reflect.DeepEqual(before, after) {
		e.t.Fatalf("the table changed:\nbefore %v\nafter  %v", before, after)
	}
}

// tableArgs names the test's table the way an operator points at DynamoDB Local.
func (e *env) tableArgs() []string {
	return []string{"--table", e.table, "--region", devenv.Region, "--dynamodb-endpoint", e.endpoint}
}

// oneLine checks an error report: one line, prefixed, naming what is wrong.
func oneLineError(t *testing.T, r result, code int, want ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("exit %d, want %d (stderr %q)", r.code, code, r.stderr)
	}
	if r.stdout != "" {
		t.Errorf("printed on stdout beside the error: %q", r.stdout)
	}
	if !strings.HasPrefix(r.stderr, "migrationctl: ") || strings.Count(r.stderr, "\n") != 1 || !strings.HasSuffix(r.stderr, "\n") {
		t.Errorf("stderr is not one line: %q", r.stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr %q does not say %q", r.stderr, w)
		}
	}
}

// get walks a decoded JSON value by keys and indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}
