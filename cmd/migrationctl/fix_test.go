package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/seed"
)

func TestUnmapAndMoveApplyTheFixRecordWhoAndWhyAndLookupShowsIt(t *testing.T) {
	t.Parallel()
	e := fixture(t)

	got := e.okJSON("--local", "unmap", "--hash", "hash-b", "--reason", "squatted: ticket 7")
	at, _ := get(got, "at").(string)
	want := map[string]any{"action": "unmapped", "userKey": "443731105", "hash": "hash-b", "at": at,
		"operator": "local:tester", "reason": "squatted: ticket 7"}
	if !reflect.DeepEqual(got, any(want)) || len(at) != len("2006-01-02T15:04:05.000000000Z") {
		t.Fatalf("unmap printed %v\nwant %v", got, want)
	}
	if m := e.okJSON("--local", "lookup", "--hash", "hash-b"); get(m, "mapped") != false {
		t.Fatalf("hash-b still mapped: %v", m)
	}
	if u := e.okJSON("--local", "lookup", "--user-key", "443731105"); get(u, "state") != "removed" || get(u, "reason") != "squatted: ticket 7" {
		t.Fatalf("the user's marker: %v", u)
	}

	got = e.okJSON("--local", "move", "--user-key", "443731104", "--hash", "hash-a2", "--reason", "new SDK hash", "--operator", "alice")
	if get(got, "previousHash") != "hash-a" || get(got, "hash") != "hash-a2" || get(got, "operator") != "alice" {
		t.Fatalf("move printed %v", got)
	}
	m := e.okJSON("--local", "lookup", "--hash", "hash-a2", "--show-profile")
	if get(m, "userKey") != "443731104" || get(m, "previousHash") != "hash-a" || get(m, "profile", "name") != "홍길동" {
		t.Fatalf("lookup after the move: %v", m)
	}
	text := e.ok("", "--local", "move", "--user-key", "443731104", "--hash", "hash-a3", "--reason", "again")
	if !strings.HasPrefix(text, `moved userKey 443731104 from hash "hash-a2" to "hash-a3"`) {
		t.Fatalf("move's text: %q", text)
	}
}

func TestFixesThatWouldBeAmbiguousAreRefusedInOneLineAndWriteNothing(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"unmap of a hash that is not mapped", []string{"unmap", "--hash", "nobody", "--reason", "r"}, 1,
			[]string{`unmap hash "nobody" refused: the hash is not mapped; nothing was written`}},
		{"move of a user who is not linked", []string{"move", "--user-key", "443731107", "--hash", "x", "--reason", "r"}, 1,
			[]string{"refused: the user is not linked: its item is unlinked; nothing was written"}},
		{"move to a hash another user holds", []string{"move", "--user-key", "443731104", "--hash", "hash-b", "--reason", "r"}, 1,
			[]string{"refused: the new hash is already mapped"}},
		{"move to the same hash", []string{"move", "--user-key", "443731104", "--hash", "hash-a", "--reason", "r"}, 1,
			[]string{"refused: the user is already mapped to that hash"}},
		{"unmap without a reason", []string{"unmap", "--hash", "hash-a"}, 2, []string{"--reason: reason is required"}},
		{"a reason with a newline", []string{"unmap", "--hash", "hash-a", "--reason", "a\nb"}, 2, []string{"control or invisible character"}},
		{"an over-long reason", []string{"unmap", "--hash", "hash-a", "--reason", strings.Repeat("r", 501)}, 2, []string{"longer than 500 bytes"}},
		{"move to a hash with a control character", []string{"move", "--user-key", "443731104", "--hash", "h\x01", "--reason", "r"}, 2, []string{"--hash"}},
		{"move of a bad userKey", []string{"move", "--user-key", "-5", "--hash", "h", "--reason", "r"}, 2, []string{`"-5" is not a userKey`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.unchanged(func() {
				oneLineError(t, e.ctl("", append([]string{"--local"}, tt.args...)...), tt.code, tt.want...)
			})
		})
	}
}

func TestAgainstAWSTheOperatorIsTheCallersIdentityNotAFlag(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	e.unchanged(func() {
		r := e.ctl("", append(e.tableArgs(), "unmap", "--hash", "hash-a", "--reason", "r", "--operator", "me")...)
		oneLineError(t, r, 2, "--operator is for --local only")
	})
	// moto answers sts:GetCallerIdentity as AWS would, with the caller's ARN.
	e.awsOpts = []func(*config.LoadOptions) error{config.WithBaseEndpoint(e.moto)}
	got := e.okJSON(append(e.tableArgs(), "unmap", "--hash", "hash-a", "--reason", "r")...)
	if op, _ := get(got, "operator").(string); !strings.HasPrefix(op, "arn:aws:") {
		t.Fatalf("operator %q, want the caller's ARN", op)
	}
	if u := e.okJSON(append(e.tableArgs(), "lookup", "--user-key", "443731104")...); get(u, "operator") != get(got, "operator") {
		t.Fatalf("the marker names %v", get(u, "operator"))
	}
}

func TestBadInputGetsOneLineNamingTheProblemAndChangesNothing(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	dir := t.TempDir()
	file := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	missing := append([]string{"--table", "no-such-table"}, e.tableArgs()[2:]...)
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"a userKey that is not a number", []string{"--local", "lookup", "--user-key", "12a"}, 2, []string{`"12a" is not a userKey (decimal digits only)`}},
		{"a userKey beyond int64", []string{"--local", "lookup", "--user-key", "9223372036854775808"}, 2, []string{"out of range"}},
		{"both a hash and a userKey", []string{"--local", "lookup", "--hash", "h", "--user-key", "1"}, 2, []string{"exactly one of --hash or --user-key"}},
		{"a missing table", append(missing, "stats"), 1, []string{`table "no-such-table" not found in region`}},
		{"a missing table for a fix", append(missing, "unmap", "--hash", "h", "--reason", "r"), 1, []string{`table "no-such-table" not found`}},
		{"a malformed line in the list", []string{"--local", "coverage", "--user-keys", file("bad.txt", "443731104\n\n44373x105\n")}, 1,
			[]string{"line 3", `"44373x105" is not a userKey`, "nothing was read from the table"}},
		{"a header line in the list", []string{"--local", "coverage", "--user-keys", file("header.csv", "userKey\n443731104\n")}, 1, []string{"line 1", `"userKey"`}},
		{"an empty list", []string{"--local", "coverage", "--user-keys", file("empty.txt", "\n\n")}, 1, []string{"holds no userKeys"}},
		{"a list that does not exist", []string{"--local", "coverage", "--user-keys", filepath.Join(dir, "nope.txt")}, 1, []string{"no such file"}},
		{"no target", []string{"stats"}, 2, []string{"which table?"}},
		{"two targets", []string{"--local", "--table", "t", "stats"}, 2, []string{"give one"}},
		{"an unknown command", []string{"--local", "statz"}, 2, []string{`unknown command "statz"`}},
		{"an unknown flag", []string{"--local", "export", "--fromat", "csv"}, 2, []string{"flag provided but not defined: -fromat"}},
		{"an unknown export format", []string{"--local", "export", "--format", "xml"}, 2, []string{`--format is jsonl or csv, not "xml"`}},
		{"too many segments", []string{"--local", "stats", "--segments", "65"}, 2, []string{"--segments must be 1 to 64"}},
		{"a stray argument", []string{"--local", "stats", "now"}, 2, []string{`unexpected argument "now"`}},
		{"events without --local", append(e.tableArgs(), "events"), 2, []string{"use --local"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.unchanged(func() { oneLineError(t, e.ctl("", tt.args...), tt.code, tt.want...) })
		})
	}
	// The list arrives on stdin too, and is refused as a whole.
	e.unchanged(func() {
		oneLineError(t, e.ctl("1\n2\n3\n4.0\n", "--local", "coverage", "--user-keys", "-"), 1, "stdin line 4")
	})
}

func TestWrongCredentialsAndMissingPermissionsAreOneLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, msg string
		want           []string
	}{
		{"unknown keys", "UnrecognizedClientException", "The security token included in the request is invalid.",
			[]string{"AWS rejected the credentials (UnrecognizedClientException on DynamoDB DescribeTable", "check AWS_PROFILE"}},
		{"an expired session", "ExpiredTokenException", "The security token included in the request is expired",
			[]string{"AWS rejected the credentials (ExpiredTokenException"}},
		{"no permission", "AccessDeniedException", "User: arn:aws:iam::1:user/x is not authorized to perform: dynamodb:DescribeTable",
			[]string{"AWS denied DynamoDB DescribeTable", "OperatorPolicyArn"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/x-amz-json-1.0")
				w.WriteHeader(http.StatusBadRequest)
				w.Write([]byte(`{"__type":"com.amazonaws.dynamodb.v20120810#` + tt.typ + `","message":"` + tt.msg + `"}`))
			}))
			defer srv.Close()
			e := &env{t: t, vars: map[string]string{}}
			r := e.ctl("", "--table", "t", "--region", "ap-northeast-2", "--dynamodb-endpoint", srv.URL, "stats")
			oneLineError(t, r, 1, tt.want...)
		})
	}
}

func TestHelpIsPrintedOnRequest(t *testing.T) {
	t.Parallel()
	e := &env{t: t, vars: map[string]string{}}
	if out := e.ok("", "help"); !strings.Contains(out, "commands:") || !strings.Contains(out, "coverage") {
		t.Fatalf("help: %s", out)
	}
	for _, args := range [][]string{{"help", "move"}, {"move", "-h"}, {"move", "--help"}} {
		if out := e.ok("", args...); !strings.Contains(out, "usage: migrationctl [global flags] move --user-key K --hash NEW --reason R") ||
			!strings.Contains(out, "-reason") {
			t.Errorf("%v: %s", args, out)
		}
	}
	if r := e.ctl(""); r.code != 2 || !strings.Contains(r.stderr, "commands:") {
		t.Errorf("no command: exit %d, %q", r.code, r.stderr)
	}
}

// stackTemplate is the part of the product's stack --stack reads: the TableName output and the
// link function's environment.
const stackTemplate = `{"Resources":{
 "MappingTable":{"Type":"AWS::DynamoDB::Table","Properties":{"BillingMode":"PAY_PER_REQUEST",
   "AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}},
 "LinkFunctionRole":{"Type":"AWS::IAM::Role","Properties":{"AssumeRolePolicyDocument":{"Version":"2012-10-17",
   "Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}}},
 "LinkFunction":{"Type":"AWS::Lambda::Function","Properties":{"Runtime":"provided.al2023","Handler":"bootstrap",
   "Role":{"Fn::GetAtt":["LinkFunctionRole","Arn"]},"Code":{"ZipFile":"bootstrap"},
   "Environment":{"Variables":{"SECRET_ID":"%s","TOSS_API_BASE_URL":"https://127.0.0.1:1"}}}}},
 "Outputs":{"TableName":{"Value":{"Ref":"MappingTable"}}}}`

func TestStackNamesTheTableAndTheLinkFunctionsSecret(t *testing.T) {
	t.Parallel()
	// The stack's table is made by moto's CloudFormation, so DynamoDB is moto's here too.
	stack := devenv.ForTest(t, devenv.Options{DynamoDB: devenv.DynamoDBMoto})
	e := &env{t: t, vars: map[string]string{}, endpoint: stack.Moto.Endpoint, moto: stack.Moto.Secrets,
		awsOpts: []func(*config.LoadOptions) error{config.WithBaseEndpoint(stack.Moto.Secrets)}}
	ctx := context.Background()
	cfg := stack.Moto.AWSConfig()
	cfn := cloudformation.NewFromConfig(cfg, func(o *cloudformation.Options) { o.BaseEndpoint = &stack.Moto.Secrets })
	name := "product-" + devenv.Unique()
	if _, err := cfn.CreateStack(ctx, &cloudformation.CreateStackInput{StackName: &name,
		TemplateBody: aws.String(fmt.Sprintf(stackTemplate, stack.SecretID))}); err != nil {
		t.Fatal(err)
	}
	var table string
	for deadline := time.Now().Add(30 * time.Second); table == ""; time.Sleep(100 * time.Millisecond) {
		out, err := cfn.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: &name})
		if err == nil && len(out.Stacks) == 1 && len(out.Stacks[0].Outputs) == 1 {
			table = aws.ToString(out.Stacks[0].Outputs[0].OutputValue)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack has no TableName output: %v", err)
		}
	}
	if err := seed.Write(ctx, stack.DB, table, seed.Linked("stack-hash", 42, mar1, nil), 1); err != nil {
		t.Fatal(err)
	}
	args := []string{"--stack", name, "--region", devenv.Region}
	if got := e.okJSON(append(args, "stats")...); get(got, "table") != table || get(got, "mapped") != 1.0 {
		t.Fatalf("stats --stack: %v", got)
	}
	rep := e.okJSON(append(args, "check")...)
	if get(rep, "ok") != true || get(rep, "secret") != stack.SecretID || !strings.Contains(get(rep, "from").(string), "link function") {
		t.Fatalf("check --stack: %v", rep)
	}
	oneLineError(t, e.ctl("", "--stack", "no-such-stack", "--region", devenv.Region, "stats"), 1, `stack "no-such-stack" not found in region ap-northeast-2`)
}
