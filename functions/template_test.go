package functions

// These tests check template.yaml against the code: cfn-lint must be silent, the SAM transform must
// succeed, and the CloudFormation it produces must route, permit, configure and protect exactly
// what the functions need. The transform runs offline (functions/testdata/transform.py, with
// Python's aws-sam-translator, which cfn-lint installs) once per test binary.

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/localserver"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/routes"
	"github.com/tossgame/migration-server/shared/store"
)

type obj = map[string]any

// functionID is the template's logical id of a function named as in routes.All.
func functionID(name string) string { return routes.LogicalID(name) }

type methodPath struct{ Method, Path string }

// routeTable is routes.All by function: each function's methods and paths.
var routeTable = func() map[string][]methodPath {
	m := map[string][]methodPath{}
	for _, r := range routes.All {
		for _, method := range r.Methods {
			m[r.Function] = append(m[r.Function], methodPath{method, r.Path})
		}
	}
	return m
}()

// streamFunctions are the functions no HTTP route reaches: the table's stream triggers them.
var streamFunctions = []string{"events"}

// allFunctions is every function of the template: the routes' and the stream's.
func allFunctions() []string {
	var out []string
	for name := range routeTable {
		out = append(out, name)
	}
	return append(out, streamFunctions...)
}

// wantActions is each function's complete IAM permission set (besides the basic execution role
// SAM attaches for logging). TransactWriteItems is authorised by the actions of its parts.
var wantActions = map[string][]string{
	"status": {"dynamodb:GetItem"},
	"link":   {"dynamodb:GetItem", "dynamodb:PutItem", "secretsmanager:GetSecretValue"},
	"unlink": {"dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "secretsmanager:GetSecretValue"},
	// Lambda's stream poller acts with the function's role; the DLQ record too.
	"events": {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams",
		"events:PutEvents", "sqs:SendMessage"},
	"certcheck": {"secretsmanager:GetSecretValue"},
}

// busArn is the bus the stack creates, or the one named by EventBusName.
var busArn = obj{"Fn::If": []any{"CreateEventBus", obj{"Fn::GetAtt": []any{"EventBus", "Arn"}},
	obj{"Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}}}

// wantResource is the one resource each service's actions may apply to.
var wantResource = map[string]any{
	"dynamodb":       obj{"Fn::GetAtt": []any{"MappingTable", "Arn"}},
	"secretsmanager": obj{"Ref": "SecretArn"},
	"events":         busArn,
	"sqs":            obj{"Fn::GetAtt": []any{"EventsDeadLetterQueue", "Arn"}},
}

// resourceFor is the one resource a function's actions of a service may apply to: the events
// function reads the table's stream, never the table.
func resourceFor(function, service string) (any, bool) {
	if function == "events" && service == "dynamodb" {
		return obj{"Fn::GetAtt": []any{"MappingTable", "StreamArn"}}, true
	}
	r, ok := wantResource[service]
	return r, ok
}

const basicExecutionRole = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

var transformed struct {
	once sync.Once
	tpl  obj
	err  error
}

// cfn is the transformed template (CloudFormation JSON), computed once per test binary.
func cfn(t *testing.T) obj {
	t.Helper()
	root := moduleRoot(t)
	transformed.once.Do(func() {
		py, err := exec.LookPath("python3")
		if err != nil {
			transformed.err = errors.New("python3 is not on PATH; install Python 3 and `pip install cfn-lint` (it brings aws-sam-translator)")
			return
		}
		cmd := exec.Command(py, filepath.Join("functions", "testdata", "transform.py"), "template.yaml")
		cmd.Dir = root
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			transformed.err = fmt.Errorf("transform.py template.yaml: %v\n%s", err, stderr.String())
			return
		}
		var tpl obj
		if err := json.Unmarshal(stdout.Bytes(), &tpl); err != nil {
			transformed.err = fmt.Errorf("transform.py printed no JSON template: %v", err)
			return
		}
		transformed.tpl = tpl
	})
	if transformed.err != nil {
		t.Fatal(transformed.err)
	}
	return transformed.tpl
}

// get walks nested objects by key; a missing key gives nil.
func get(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(obj)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// resources returns the resources of one type by logical id.
func resources(tpl obj, typ string) map[string]obj {
	out := map[string]obj{}
	all, _ := tpl["Resources"].(obj)
	for id, r := range all {
		if r, ok := r.(obj); ok && r["Type"] == typ {
			out[id] = r
		}
	}
	return out
}

func resource(t *testing.T, tpl obj, id, typ string) obj {
	t.Helper()
	r, ok := get(tpl, "Resources", id).(obj)
	if !ok {
		t.Fatalf("the template has no resource %s", id)
	}
	if r["Type"] != typ {
		t.Fatalf("%s is a %v, want %s", id, r["Type"], typ)
	}
	return r
}

// strings of a value that is a string or a list of strings.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, stringList(e)...)
		}
		return out
	}
	return nil
}

var subRef = regexp.MustCompile(`\$\{([A-Za-z0-9]+)(\.[A-Za-z0-9.]+)?\}`)

// refsTo lists the resources of ids that v refers to (Ref, Fn::GetAtt, or ${Id} in Fn::Sub).
func refsTo(v any, ids map[string]bool) []string {
	found := map[string]bool{}
	var walk func(any)
	walk = func(v any) {
		switch v := v.(type) {
		case obj:
			for k, e := range v {
				switch k {
				case "Ref":
					if s, ok := e.(string); ok && ids[s] {
						found[s] = true
					}
				case "Fn::GetAtt":
					if l := stringList(e); len(l) > 0 {
						if id := strings.SplitN(l[0], ".", 2)[0]; ids[id] {
							found[id] = true
						}
					}
				case "Fn::Sub":
					for _, s := range stringList(e) {
						for _, m := range subRef.FindAllStringSubmatch(s, -1) {
							if ids[m[1]] {
								found[m[1]] = true
							}
						}
					}
				}
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(found))
	for id := range found {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func TestTemplatePassesCfnLint(t *testing.T) {
	lint, err := exec.LookPath("cfn-lint")
	if err != nil {
		t.Fatal("cfn-lint is not on PATH: pip install cfn-lint")
	}
	// Informational checks too: the template must draw no remark at all.
	cmd := exec.Command(lint, "--format", "parseable", "--include-checks", "I", "--", "template.yaml")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("cfn-lint template.yaml: %v\n%s", err, out)
	}
}

func TestTemplateTransforms(t *testing.T) {
	tpl := cfn(t)
	// Other functions (the stream consumer, the certificate check) may exist besides the routes'.
	fns := resources(tpl, "AWS::Lambda::Function")
	for name := range routeTable {
		if fns[functionID(name)] == nil {
			t.Errorf("the transform produced no Lambda function %s for route function %s", functionID(name), name)
		}
	}
	for id, r := range tpl["Resources"].(obj) {
		if typ, _ := get(r, "Type").(string); strings.HasPrefix(typ, "AWS::Serverless::") {
			t.Errorf("%s is still a %s after the transform", id, typ)
		}
	}
}

func TestRoutesAreLocalServerRoutes(t *testing.T) {
	tpl := cfn(t)
	fns := map[string]bool{}
	want := map[string]string{} // "METHOD /path" -> function logical id
	for name, routes := range routeTable {
		fns[functionID(name)] = true
		for _, r := range routes {
			want[r.Method+" "+r.Path] = functionID(name)
		}
	}

	// Browsers' routes on the public API (CORS), the callback on its own API (no CORS).
	apis := resources(tpl, "AWS::ApiGatewayV2::Api")
	wantAPI := map[string]string{}
	for _, r := range routes.All {
		for _, m := range r.Methods {
			wantAPI[m+" "+r.Path] = apiOf(r)
		}
	}
	for _, id := range []string{"HttpApi", "CallbackApi"} {
		if apis[id] == nil {
			t.Errorf("the template has no AWS::ApiGatewayV2::Api %s", id)
		}
	}
	got := map[string]string{}
	gotAPI := map[string]string{}
	add := func(key string, target any) {
		ids := refsTo(target, fns)
		if len(ids) != 1 {
			t.Errorf("route %s integrates with %v, want exactly one function", key, ids)
			return
		}
		if prev, dup := got[key]; dup {
			t.Errorf("route %s is declared twice (%s, %s)", key, prev, ids[0])
		}
		got[key] = ids[0]
	}
	// SAM puts the routes of an HttpApi in its OpenAPI body ...
	for apiID, api := range apis {
		paths, _ := get(api, "Properties", "Body", "paths").(obj)
		for path, ops := range paths {
			ops, _ := ops.(obj)
			for method, op := range ops {
				if strings.HasPrefix(method, "x-") || method == "parameters" {
					continue
				}
				key := strings.ToUpper(method) + " " + path
				integ := get(op, "x-amazon-apigateway-integration")
				if integ == nil {
					t.Errorf("route %s has no integration", key)
					continue
				}
				if v := get(integ, "payloadFormatVersion"); v != "2.0" {
					t.Errorf("route %s uses payload format %v, want 2.0 (what localserver builds)", key, v)
				}
				add(key, get(integ, "uri"))
				gotAPI[key] = apiID
			}
		}
	}
	// ... but a template may also declare routes as resources.
	integrations := resources(tpl, "AWS::ApiGatewayV2::Integration")
	integIDs := map[string]bool{}
	for id := range integrations {
		integIDs[id] = true
	}
	for id, r := range resources(tpl, "AWS::ApiGatewayV2::Route") {
		key, _ := get(r, "Properties", "RouteKey").(string)
		in := refsTo(get(r, "Properties", "Target"), integIDs)
		if len(in) != 1 {
			t.Errorf("route %s (%s) targets %v, want one integration", id, key, in)
			continue
		}
		add(key, get(integrations[in[0]], "Properties", "IntegrationUri"))
		if api := refsTo(get(r, "Properties", "ApiId"), map[string]bool{"HttpApi": true, "CallbackApi": true}); len(api) == 1 {
			gotAPI[key] = api[0]
		}
	}

	for key, fn := range want {
		if got[key] == "" {
			t.Errorf("route %s (routeTable) is missing from the template", key)
		} else if got[key] != fn {
			t.Errorf("route %s goes to %s, want %s", key, got[key], fn)
		}
	}
	for key, fn := range got {
		if want[key] == "" {
			t.Errorf("the template routes %s to %s, but routeTable has no such route", key, fn)
		} else if gotAPI[key] != wantAPI[key] {
			t.Errorf("route %s is on %s, want %s", key, gotAPI[key], wantAPI[key])
		}
	}
}

func TestAPIStageCORSAndAccessLogs(t *testing.T) {
	tpl := cfn(t)
	stages := resources(tpl, "AWS::ApiGatewayV2::Stage")
	if len(stages) != 2 {
		t.Fatalf("the template has %d API stages, want 2 ($default of the public and the callback API)", len(stages))
	}
	logGroupOf := map[string]string{"HttpApi": "HttpApiAccessLogGroup", "CallbackApi": "CallbackApiAccessLogGroup"}
	for id, st := range stages {
		if v := get(st, "Properties", "StageName"); v != "$default" {
			t.Errorf("%s is stage %v, want $default (ApiUrl has no stage path)", id, v)
		}
		for _, k := range []string{"ThrottlingBurstLimit", "ThrottlingRateLimit"} {
			if get(st, "Properties", "DefaultRouteSettings", k) == nil {
				t.Errorf("%s has no DefaultRouteSettings.%s", id, k)
			}
		}
		api := refsTo(get(st, "Properties", "ApiId"), map[string]bool{"HttpApi": true, "CallbackApi": true})
		if len(api) != 1 {
			t.Fatalf("%s is the stage of %v", id, api)
		}
		group := logGroupOf[api[0]]
		dest := refsTo(get(st, "Properties", "AccessLogSettings", "DestinationArn"), map[string]bool{group: true})
		if len(dest) != 1 {
			t.Errorf("%s does not log to %s", id, group)
		}
		format, _ := get(st, "Properties", "AccessLogSettings", "Format").(string)
		var fields map[string]string
		if err := json.Unmarshal([]byte(format), &fields); err != nil {
			t.Fatalf("%s access log format is not a JSON object of strings: %v\n%s", id, err, format)
		}
		var names []string
		for k, v := range fields {
			names = append(names, k)
			// The unlink GET carries userKey in its query string; its Authorization header is the secret.
			for _, bad := range []string{"query", "header", "authoriz", "path"} {
				if strings.Contains(strings.ToLower(v), bad) {
					t.Errorf("access log field %s = %s may leak request data (%s)", k, v, bad)
				}
			}
		}
		sort.Strings(names)
		wantNames := []string{"httpMethod", "integrationError", "integrationLatency", "ip", "protocol",
			"requestId", "requestTime", "responseLength", "routeKey", "status"}
		if !slices.Equal(names, wantNames) {
			t.Errorf("access log fields %v, want %v", names, wantNames)
		}
	}
	for _, group := range logGroupOf {
		lg := resource(t, tpl, group, "AWS::Logs::LogGroup")
		if !slices.Equal(refsTo(get(lg, "Properties", "RetentionInDays"), map[string]bool{"LogRetentionDays": true}), []string{"LogRetentionDays"}) {
			t.Errorf("%s retention is %v, want Ref LogRetentionDays", group, get(lg, "Properties", "RetentionInDays"))
		}
	}

	// CORS: answered by API Gateway on the public API only; exact origins only, POST and its
	// preflight, Content-Type. The callback answers none.
	for id, api := range resources(tpl, "AWS::ApiGatewayV2::Api") {
		cors := get(api, "Properties", "Body", "x-amazon-apigateway-cors")
		if id == "CallbackApi" {
			if cors != nil {
				t.Errorf("CallbackApi has a CORS configuration: %v", cors)
			}
			continue
		}
		if cors == nil {
			t.Fatalf("%s has no CORS configuration", id)
		}
		var configs []obj
		if branches, ok := get(cors, "Fn::If").([]any); ok && len(branches) == 3 {
			for _, b := range branches[1:] {
				c, _ := b.(obj)
				configs = append(configs, c)
			}
		} else {
			c, _ := cors.(obj)
			configs = append(configs, c)
		}
		for _, c := range configs {
			if c == nil {
				t.Fatalf("%s CORS configuration is not an object: %v", id, cors)
			}
			if m := stringList(c["allowMethods"]); !slices.Equal(m, []string{http.MethodPost, http.MethodOptions}) {
				t.Errorf("%s CORS allowMethods %v, want [POST OPTIONS]", id, m)
			}
			if h := stringList(c["allowHeaders"]); !slices.Equal(h, []string{"content-type"}) {
				t.Errorf("%s CORS allowHeaders %v, want [content-type]", id, h)
			}
			if c["allowCredentials"] == true {
				t.Errorf("%s CORS allows credentials", id)
			}
			origins, _ := json.Marshal(c["allowOrigins"])
			if c["allowOrigins"] == nil || strings.Contains(string(origins), "*") {
				t.Errorf("%s CORS allowOrigins %s, want exact origins", id, origins)
			}
		}
	}
}

func TestRolesAreLeastPrivilege(t *testing.T) {
	tpl := cfn(t)

	// No wildcard in any Action or Resource of any policy, anywhere.
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch v := v.(type) {
		case obj:
			for k, e := range v {
				switch k {
				case "Action", "Resource", "NotAction", "NotResource":
					b, _ := json.Marshal(e)
					// In a KMS key policy, Resource "*" means the key itself: the only form it takes.
					if k == "Resource" && e == "*" && strings.Contains(path, ".KeyPolicy.") {
						continue
					}
					if strings.Contains(string(b), "*") {
						t.Errorf("%s.%s has a wildcard: %s", path, k, b)
					}
				}
				walk(path+"."+k, e)
			}
		case []any:
			for i, e := range v {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		}
	}
	walk("", tpl["Resources"])

	// The operators' policy (TestOperatorPolicyIsExactlyWhatMigrationctlNeeds) is the one exception.
	if n := len(resources(tpl, "AWS::IAM::Policy")) + len(resources(tpl, "AWS::IAM::ManagedPolicy")) - 1; n != 0 {
		t.Errorf("the template has %d stand-alone IAM policies besides OperatorPolicy; permissions belong in each function's role", n)
	}
	for name, want := range wantActions {
		id := functionID(name)
		fn := resource(t, tpl, id, "AWS::Lambda::Function")
		roleIDs := refsTo(get(fn, "Properties", "Role"), map[string]bool{id + "Role": true})
		if len(roleIDs) != 1 {
			t.Errorf("%s does not use its own role %sRole (Role = %v)", id, id, get(fn, "Properties", "Role"))
			continue
		}
		role := resource(t, tpl, roleIDs[0], "AWS::IAM::Role")
		if got := stringList(get(role, "Properties", "ManagedPolicyArns")); !slices.Equal(got, []string{basicExecutionRole}) {
			t.Errorf("%s managed policies %v, want only %s", roleIDs[0], got, basicExecutionRole)
		}
		var actions []string
		policies, _ := get(role, "Properties", "Policies").([]any)
		for _, p := range policies {
			stmts, _ := get(p, "PolicyDocument", "Statement").([]any)
			for _, s := range stmts {
				s, _ := s.(obj)
				if s["Effect"] != "Allow" {
					continue
				}
				if s["NotAction"] != nil || s["NotResource"] != nil {
					t.Errorf("%s has a NotAction/NotResource statement", roleIDs[0])
				}
				for _, a := range stringList(s["Action"]) {
					actions = append(actions, a)
					service := strings.SplitN(a, ":", 2)[0]
					wantRes, ok := resourceFor(name, service)
					if !ok {
						continue // reported below as an unexpected action
					}
					res := s["Resource"]
					if l, ok := res.([]any); ok && len(l) == 1 {
						res = l[0]
					}
					gotJSON, _ := json.Marshal(res)
					wantJSON, _ := json.Marshal(wantRes)
					if !bytes.Equal(gotJSON, wantJSON) {
						t.Errorf("%s allows %s on %s, want only %s", id, a, gotJSON, wantJSON)
					}
				}
			}
		}
		sort.Strings(actions)
		actions = slices.Compact(actions)
		if !slices.Equal(actions, want) {
			t.Errorf("%s may %v, want exactly %v", id, actions, want)
		}
		if name == "status" {
			for _, a := range actions {
				if strings.HasPrefix(strings.ToLower(a), "secretsmanager:") {
					t.Errorf("StatusFunction may %s: status never reads the secret", a)
				}
			}
		}
	}
}

func TestFunctionsBuildAndRunAsTheCodeExpects(t *testing.T) {
	tpl := cfn(t)
	root := moduleRoot(t)
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Errorf("no Makefile at the module root (sam build runs its build-<LogicalId> targets): %v", err)
	}
	for _, name := range allFunctions() {
		id := functionID(name)
		fn := resource(t, tpl, id, "AWS::Lambda::Function")
		if v := get(fn, "Metadata", "BuildMethod"); v != "makefile" {
			t.Errorf("%s Metadata.BuildMethod = %v, want makefile", id, v)
		}
		if _, err := os.Stat(filepath.Join(root, "functions", name, "main.go")); err != nil {
			t.Errorf("%s has no main package: %v", id, err)
		}
		if makefile != nil {
			recipe, ok := makeRecipe(string(makefile), "build-"+id)
			switch {
			case !ok:
				t.Errorf("the Makefile has no build-%s: target", id)
			case !strings.Contains(recipe, "./functions/"+name) || !strings.Contains(recipe, "ARTIFACTS_DIR") ||
				!strings.Contains(recipe, "bootstrap"):
				t.Errorf("build-%s does not build ./functions/%s into $(ARTIFACTS_DIR)/bootstrap:\n%s", id, name, recipe)
			case !strings.Contains(recipe, "GOARCH=arm64") || !strings.Contains(recipe, "GOOS=linux"):
				t.Errorf("build-%s does not build for linux/arm64 (the template's architecture):\n%s", id, recipe)
			}
		}

		p := get(fn, "Properties").(obj)
		if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" {
			t.Errorf("%s runs %v/%v, want provided.al2023/bootstrap", id, p["Runtime"], p["Handler"])
		}
		if a := stringList(p["Architectures"]); !slices.Equal(a, []string{"arm64"}) {
			t.Errorf("%s architectures %v, want [arm64]", id, a)
		}
		if _, routed := routeTable[name]; !routed {
			// A stream batch is up to 10 PutEvents calls; a timeout is an error Lambda retries.
			if timeout, _ := p["Timeout"].(float64); timeout < 10 || timeout > 60 {
				t.Errorf("%s timeout %v s, want between 10 and 60", id, p["Timeout"])
			}
		} else if timeout, _ := p["Timeout"].(float64); timeout != localserver.Timeout.Seconds() || timeout >= 30 {
			t.Errorf("%s timeout %v s, want localserver.Timeout (%v), below API Gateway's 30 s", id, p["Timeout"], localserver.Timeout)
		}
		if m, _ := p["MemorySize"].(float64); m < 256 {
			t.Errorf("%s memory %v MB, want at least 256", id, p["MemorySize"])
		}
		if f := get(p, "LoggingConfig", "LogFormat"); f != "JSON" {
			t.Errorf("%s log format %v, want JSON", id, f)
		}

		var group obj
		for _, lg := range resources(tpl, "AWS::Logs::LogGroup") {
			if n, _ := get(lg, "Properties", "LogGroupName", "Fn::Sub").(string); n == "/aws/lambda/${"+id+"}" {
				group = lg
			}
		}
		if group == nil {
			t.Errorf("%s has no log group /aws/lambda/${%s}", id, id)
		} else if r := get(group, "Properties", "RetentionInDays"); !slices.Equal(refsTo(r, map[string]bool{"LogRetentionDays": true}), []string{"LogRetentionDays"}) {
			t.Errorf("%s log group retention is %v, want Ref LogRetentionDays", id, r)
		}
	}
}

// makeRecipe returns the recipe lines of a Makefile target.
func makeRecipe(makefile, target string) (string, bool) {
	lines := strings.Split(makefile, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, target+":") {
			continue
		}
		var recipe []string
		for _, r := range lines[i+1:] {
			if !strings.HasPrefix(r, "\t") {
				break
			}
			recipe = append(recipe, r)
		}
		return strings.Join(recipe, "\n"), true
	}
	return "", false
}

func TestTableIsProtected(t *testing.T) {
	tpl := cfn(t)
	tables := resources(tpl, "AWS::DynamoDB::Table")
	if len(tables) != 1 {
		t.Fatalf("the template has %d tables, want 1", len(tables))
	}
	// As deployed with the defaults (SSESpecification depends on the KMS parameters).
	tbl := resource(t, instantiate(t, paramSets["defaults"]).deployed(), "MappingTable", "AWS::DynamoDB::Table")
	for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
		if tbl[k] != "Retain" {
			t.Errorf("MappingTable %s = %v, want Retain", k, tbl[k])
		}
	}
	checks := []struct {
		path []string
		want any
	}{
		{[]string{"BillingMode"}, "PAY_PER_REQUEST"},
		{[]string{"PointInTimeRecoverySpecification", "PointInTimeRecoveryEnabled"}, true},
		{[]string{"SSESpecification", "SSEEnabled"}, true},
		{[]string{"DeletionProtectionEnabled"}, true},
	}
	for _, c := range checks {
		if got := get(tbl["Properties"], c.path...); got != c.want {
			t.Errorf("MappingTable %s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	keys, _ := json.Marshal(get(tbl, "Properties", "KeySchema"))
	wantKeys, _ := json.Marshal([]obj{{"AttributeName": store.KeyAttribute, "KeyType": "HASH"}})
	if !bytes.Equal(keys, wantKeys) {
		t.Errorf("MappingTable key schema %s, want %s (store.KeyAttribute only)", keys, wantKeys)
	}
	attrs, _ := json.Marshal(get(tbl, "Properties", "AttributeDefinitions"))
	wantAttrs, _ := json.Marshal([]obj{{"AttributeName": store.KeyAttribute, "AttributeType": "S"}})
	if !bytes.Equal(attrs, wantAttrs) {
		t.Errorf("MappingTable attributes %s, want %s", attrs, wantAttrs)
	}
}

func TestAlarmsAndOutputs(t *testing.T) {
	tpl := cfn(t)
	alarms := resources(tpl, "AWS::CloudWatch::Alarm")
	find := func(namespace, metric, dimension, target string) bool {
		for id, a := range alarms {
			p, _ := a["Properties"].(obj)
			if p["Namespace"] != namespace || p["MetricName"] != metric {
				continue
			}
			dims, _ := p["Dimensions"].([]any)
			if len(dims) != 1 || get(dims[0], "Name") != dimension ||
				!slices.Equal(refsTo(get(dims[0], "Value"), map[string]bool{target: true}), []string{target}) {
				continue
			}
			if p["TreatMissingData"] != "notBreaching" {
				t.Errorf("alarm %s TreatMissingData = %v, want notBreaching", id, p["TreatMissingData"])
			}
			if !slices.Equal(refsTo(p["AlarmActions"], map[string]bool{"AlarmTopicArn": true, "AlarmTopic": true}), []string{"AlarmTopic", "AlarmTopicArn"}) {
				t.Errorf("alarm %s does not notify AlarmTopicArn or else AlarmTopic", id)
			}
			return true
		}
		return false
	}
	for _, name := range allFunctions() {
		id := functionID(name)
		for _, metric := range []string{"Errors", "Throttles"} {
			if !find("AWS/Lambda", metric, "FunctionName", id) {
				t.Errorf("no AWS/Lambda %s alarm on %s", metric, id)
			}
		}
	}
	for _, api := range []string{"HttpApi", "CallbackApi"} {
		if !find("AWS/ApiGateway", "5xx", "ApiId", api) {
			t.Errorf("no AWS/ApiGateway 5xx alarm with dimension ApiId = %s", api)
		}
	}

	outputs, _ := tpl["Outputs"].(obj)
	for _, k := range []string{"ApiUrl", "UnlinkCallbackUrl", "TableName", "EventBusName", "EventBusArn", "EventsDeadLetterQueueUrl"} {
		if get(outputs, k, "Value") == nil {
			t.Errorf("output %s is missing", k)
		}
	}
	unlink, _ := get(outputs, "UnlinkCallbackUrl", "Value", "Fn::Sub").(string)
	if len(routeTable["unlink"]) == 0 || !strings.HasSuffix(unlink, routeTable["unlink"][0].Path) ||
		!strings.Contains(unlink, "${CallbackApi}") {
		t.Errorf("UnlinkCallbackUrl is %q, want the callback API's URL + the unlink route", unlink)
	}
	if refs := refsTo(get(outputs, "TableName", "Value"), map[string]bool{"MappingTable": true}); len(refs) != 1 {
		t.Errorf("TableName output does not name MappingTable")
	}
}

// appEnv is every variable shared/app reads through its Getenv (env("NAME") in app.go).
func appEnv(t *testing.T) map[string]bool {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(moduleRoot(t), "shared", "config", "config.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`\benv[(,]\s*"([A-Z0-9_]+)"`).FindAllStringSubmatch(string(src), -1) {
		out[m[1]] = true
	}
	if len(out) == 0 {
		t.Fatal(`found no env("NAME") in shared/config/config.go`)
	}
	return out
}

func TestEnvironmentIsWhatAppReads(t *testing.T) {
	tpl := cfn(t)
	known := appEnv(t)
	want := map[string][]string{
		"status": {"METRICS_NAMESPACE", "TABLE_NAME"},
		"link": {"ALLOW_SANDBOX_LINKS", "KEEP_PROFILE_FIELDS", "METRICS_NAMESPACE", "REMOVE_TOSS_LOGIN_AT_LINK",
			"SECRET_ID", "TABLE_NAME", "VERIFY_HASH"},
		"unlink": {"METRICS_NAMESPACE", "SECRET_ID", "TABLE_NAME"},
		// TABLE_NAME comes from Globals; the events function reads the stream, not the table.
		"events": {"EVENT_BUS_NAME", "METRICS_NAMESPACE", "TABLE_NAME"},
	}
	params, _ := tpl["Parameters"].(obj)
	for _, name := range allFunctions() {
		id := functionID(name)
		fn := resource(t, tpl, id, "AWS::Lambda::Function")
		vars, _ := get(fn, "Properties", "Environment", "Variables").(obj)
		var got []string
		for k, v := range vars {
			got = append(got, k)
			if !known[k] {
				t.Errorf("%s sets %s, which shared/config does not read", id, k)
			}
			// A variable set straight from a parameter: its default and allowed values must be
			// settings config.FromEnv accepts; so must both values of one set by Fn::If.
			var samples []string
			source := "Fn::If"
			if branches, ok := get(v, "Fn::If").([]any); ok && len(branches) == 3 {
				samples = stringList(branches[1:])
			}
			if ref, ok := get(v, "Ref").(string); ok && params[ref] != nil {
				source = "parameter " + ref
				if d, ok := get(params, ref, "Default").(string); ok {
					samples = append(samples, d)
				}
				samples = append(samples, stringList(get(params, ref, "AllowedValues"))...)
			}
			for _, s := range samples {
				env := map[string]string{"TABLE_NAME": "t", "SECRET_ID": "s", k: s}
				if _, err := config.FromEnv(func(n string) string { return env[n] }, config.TableAndSecret); err != nil {
					t.Errorf("%s=%q (%s) is refused by config.FromEnv: %v", k, s, source, err)
				}
			}
		}
		sort.Strings(got)
		if !slices.Equal(got, want[name]) {
			t.Errorf("%s environment %v, want %v", id, got, want[name])
		}
	}

	// KeepProfileFields' pattern accepts exactly lists of migration.ProfileFields.
	pattern, _ := get(params, "KeepProfileFields", "AllowedPattern").(string)
	re, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("KeepProfileFields AllowedPattern %q: %v", pattern, err)
	}
	for _, ok := range append([]string{"", strings.Join(migration.ProfileFields, ",")}, migration.ProfileFields...) {
		if !re.MatchString(ok) {
			t.Errorf("KeepProfileFields refuses %q", ok)
		}
	}
	for _, bad := range []string{"all", "*", "name, phone", "name,", "userKey"} {
		if re.MatchString(bad) {
			t.Errorf("KeepProfileFields accepts %q", bad)
		}
	}
}

// TestBuildTargetsProduceLambdaArtifacts runs each build-<LogicalId> target as `sam build` does
// (ARTIFACTS_DIR set) and inspects the bootstrap: linux/arm64, static, lambda.norpc, trimmed
// paths (from `go version -m`), and stripped (no symbol or DWARF sections in the ELF file;
// -trimpath keeps -ldflags out of the build info, so the file itself is checked).
func TestBuildTargetsProduceLambdaArtifacts(t *testing.T) {
	root := moduleRoot(t)
	for name, id := range map[string]string{"status": "StatusFunction", "link": "LinkFunction", "unlink": "UnlinkFunction", "events": "EventsFunction"} {
		t.Run(id, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			cmd := exec.Command("make", "-s", "build-"+id, "ARTIFACTS_DIR="+dir)
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make build-%s: %v\n%s", id, err, out)
			}
			bin := filepath.Join(dir, "bootstrap")
			out, err := exec.Command("go", "version", "-m", bin).CombinedOutput()
			if err != nil {
				t.Fatalf("go version -m: %v\n%s", err, out)
			}
			info := string(out)
			for _, want := range []string{"\tpath\tgithub.com/tossgame/migration-server/functions/" + name + "\n",
				"\tbuild\tGOOS=linux\n", "\tbuild\tGOARCH=arm64\n", "\tbuild\tCGO_ENABLED=0\n",
				"\tbuild\t-tags=lambda.norpc\n", "\tbuild\t-trimpath=true\n"} {
				if !strings.Contains(info, want) {
					t.Errorf("%s: build info lacks %q:\n%s", id, strings.TrimSpace(want), info)
				}
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if f.Machine != elf.EM_AARCH64 {
				t.Errorf("%s: ELF machine %v, want EM_AARCH64", id, f.Machine)
			}
			for _, s := range []string{".symtab", ".debug_info"} {
				if f.Section(s) != nil {
					t.Errorf("%s: has %s: not built with -ldflags=\"-s -w\"", id, s)
				}
			}
		})
	}
}

// The events path (docs/events.md): the table's stream, read in order by one mapping with partial
// batch failures, bounded retries and a dead-letter queue, publishing to the bus the stack creates
// or the one it is given.
func TestTheStreamReachesTheBusInOrderWithBoundedRetriesAndADeadLetterQueue(t *testing.T) {
	tpl := cfn(t)
	tbl := resource(t, tpl, "MappingTable", "AWS::DynamoDB::Table")
	if v := get(tbl, "Properties", "StreamSpecification", "StreamViewType"); v != "NEW_AND_OLD_IMAGES" {
		t.Errorf("MappingTable stream view %v, want NEW_AND_OLD_IMAGES (the events need both images)", v)
	}
	if get(tbl, "Properties", "TimeToLiveSpecification", "AttributeName") != store.TTLAttribute ||
		get(tbl, "Properties", "TimeToLiveSpecification", "Enabled") != true {
		t.Errorf("MappingTable TTL %v, want %s enabled (tombstones expire)", get(tbl, "Properties", "TimeToLiveSpecification"), store.TTLAttribute)
	}

	mappings := resources(tpl, "AWS::Lambda::EventSourceMapping")
	if len(mappings) != 1 {
		t.Fatalf("%d event source mappings, want exactly one (the table's stream)", len(mappings))
	}
	for id, m := range mappings {
		p, _ := m["Properties"].(obj)
		check := func(what string, got, want any) {
			t.Helper()
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if !bytes.Equal(g, w) {
				t.Errorf("%s %s = %s, want %s", id, what, g, w)
			}
		}
		check("EventSourceArn", p["EventSourceArn"], obj{"Fn::GetAtt": []any{"MappingTable", "StreamArn"}})
		check("FunctionName", p["FunctionName"], obj{"Ref": "EventsFunction"})
		check("StartingPosition", p["StartingPosition"], "TRIM_HORIZON")
		check("FunctionResponseTypes", p["FunctionResponseTypes"], []any{"ReportBatchItemFailures"})
		check("BisectBatchOnFunctionError", p["BisectBatchOnFunctionError"], true)
		check("ParallelizationFactor", p["ParallelizationFactor"], 1)
		check("DestinationConfig.OnFailure", get(p, "DestinationConfig", "OnFailure", "Destination"),
			obj{"Fn::GetAtt": []any{"EventsDeadLetterQueue", "Arn"}})
		if n, _ := p["MaximumRetryAttempts"].(float64); n < 1 || n > 10000 {
			t.Errorf("%s MaximumRetryAttempts %v, want bounded (1..10000; -1 retries until the record expires)", id, p["MaximumRetryAttempts"])
		}
		// The DLQ names records by sequence number; they must still be in the stream (24 h) to replay.
		if age, _ := p["MaximumRecordAgeInSeconds"].(float64); age < 60 || age > 43200 {
			t.Errorf("%s MaximumRecordAgeInSeconds %v, want at most 12 h of the stream's 24 h retention", id, p["MaximumRecordAgeInSeconds"])
		}
		filters, _ := get(p, "FilterCriteria", "Filters").([]any)
		if len(filters) != 1 {
			t.Fatalf("%s filters %v, want one keeping u# records", id, filters)
		}
		var pattern obj
		if err := json.Unmarshal([]byte(get(filters[0], "Pattern").(string)), &pattern); err != nil {
			t.Fatal(err)
		}
		check("filter", pattern, obj{"dynamodb": obj{"Keys": obj{"pk": obj{"S": []any{obj{"prefix": "u#"}}}}}})
	}

	dlq := resource(t, tpl, "EventsDeadLetterQueue", "AWS::SQS::Queue")
	if get(dlq, "Properties", "SqsManagedSseEnabled") != true && get(dlq, "Properties", "KmsMasterKeyId") == nil {
		t.Error("EventsDeadLetterQueue is not encrypted")
	}
	bus := resource(t, tpl, "EventBus", "AWS::Events::EventBus")
	if bus["Condition"] != "CreateEventBus" {
		t.Errorf("EventBus condition %v, want CreateEventBus (an EventBusName parameter names an existing bus)", bus["Condition"])
	}
	if d := get(tpl, "Parameters", "EventBusName", "Default"); d != "" {
		t.Errorf("EventBusName default %v, want empty (create the bus)", d)
	}
	fn := resource(t, tpl, "EventsFunction", "AWS::Lambda::Function")
	wantBus, _ := json.Marshal(obj{"Fn::If": []any{"CreateEventBus", obj{"Ref": "EventBus"}, obj{"Ref": "EventBusName"}}})
	if got, _ := json.Marshal(get(fn, "Properties", "Environment", "Variables", "EVENT_BUS_NAME")); !bytes.Equal(got, wantBus) {
		t.Errorf("EVENT_BUS_NAME = %s, want %s", got, wantBus)
	}
	if !find(resources(tpl, "AWS::CloudWatch::Alarm"), "AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "EventsDeadLetterQueue") {
		t.Error("no alarm on messages in EventsDeadLetterQueue")
	}
	if !find(resources(tpl, "AWS::CloudWatch::Alarm"), "AWS/Lambda", "IteratorAge", "FunctionName", "EventsFunction") {
		t.Error("no alarm on the events function's IteratorAge")
	}
}

// find reports whether an alarm watches namespace/metric with the one dimension naming target.
func find(alarms map[string]obj, namespace, metric, dimension, target string) bool {
	for _, a := range alarms {
		p, _ := a["Properties"].(obj)
		dims, _ := p["Dimensions"].([]any)
		if p["Namespace"] == namespace && p["MetricName"] == metric && len(dims) == 1 && get(dims[0], "Name") == dimension &&
			slices.Equal(refsTo(get(dims[0], "Value"), map[string]bool{target: true}), []string{target}) {
			return true
		}
	}
	return false
}

// wantOperatorActions is what migrationctl calls (shared/store/read.go and operator.go, and
// cmd/migrationctl's stack and secret lookups), each on the one resource it touches.
var wantOperatorActions = map[string]any{
	"dynamodb:DescribeTable":               obj{"Fn::GetAtt": []any{"MappingTable", "Arn"}},
	"dynamodb:GetItem":                     obj{"Fn::GetAtt": []any{"MappingTable", "Arn"}},
	"dynamodb:BatchGetItem":                obj{"Fn::GetAtt": []any{"MappingTable", "Arn"}},
	"dynamodb:Scan":                        obj{"Fn::GetAtt": []any{"MappingTable", "Arn"}},
	"dynamodb:PutItem":                     obj{"Fn::GetAtt": []any{"MappingTable", "Arn"}},
	"dynamodb:DeleteItem":                  obj{"Fn::GetAtt": []any{"MappingTable", "Arn"}},
	"secretsmanager:GetSecretValue":        obj{"Ref": "SecretArn"},
	"cloudformation:DescribeStacks":        obj{"Ref": "AWS::StackId"},
	"cloudformation:DescribeStackResource": obj{"Ref": "AWS::StackId"},
	"lambda:GetFunctionConfiguration":      obj{"Fn::GetAtt": []any{"LinkFunction", "Arn"}},
}

func TestOperatorPolicyIsExactlyWhatMigrationctlNeeds(t *testing.T) {
	tpl := cfn(t)
	p := resource(t, tpl, "OperatorPolicy", "AWS::IAM::ManagedPolicy")
	for _, k := range []string{"Roles", "Users", "Groups"} {
		if get(p, "Properties", k) != nil {
			t.Errorf("OperatorPolicy is attached to %s: the studio attaches it to its operators", k)
		}
	}
	got := map[string]any{}
	stmts, _ := get(p, "Properties", "PolicyDocument", "Statement").([]any)
	for _, s := range stmts {
		s, _ := s.(obj)
		if s["Effect"] != "Allow" || s["NotAction"] != nil || s["NotResource"] != nil || s["Condition"] != nil {
			t.Errorf("statement %v: want plain Allow statements", s["Sid"])
		}
		res := s["Resource"]
		if l, ok := res.([]any); ok && len(l) == 1 {
			res = l[0]
		}
		for _, a := range stringList(s["Action"]) {
			if _, dup := got[a]; dup {
				t.Errorf("%s is granted twice", a)
			}
			got[a] = res
		}
	}
	gotJSON, _ := json.MarshalIndent(got, "", "  ")
	wantJSON, _ := json.MarshalIndent(wantOperatorActions, "", "  ")
	if !bytes.Equal(gotJSON, wantJSON) {
		t.Errorf("OperatorPolicy grants\n%s\nwant exactly\n%s", gotJSON, wantJSON)
	}
	outputs, _ := tpl["Outputs"].(obj)
	if refs := refsTo(get(outputs, "OperatorPolicyArn", "Value"), map[string]bool{"OperatorPolicy": true}); len(refs) != 1 {
		t.Errorf("output OperatorPolicyArn = %v, want the policy's ARN (Ref OperatorPolicy)", get(outputs, "OperatorPolicyArn"))
	}
}
