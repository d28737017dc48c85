package functions

// A small CloudFormation evaluator for the template tests: it transforms template.yaml with a set
// of parameter values (as CloudFormation hands them to the SAM transform at deploy time), then
// instantiates the result as CloudFormation would deploy it: conditions evaluated, resources whose
// condition is false dropped, Fn::If branches chosen, AWS::NoValue removed, parameter and pseudo
// parameter Refs replaced by their values. Refs to resources and Fn::GetAtt stay as they are.
// The Rules section is evaluated the same way, so tests can ask which parameter sets CloudFormation
// would refuse and with what message.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

const (
	testRegion  = "ap-northeast-2"
	testAccount = "111122223333"
	testStack   = "toss-migration-test"
	// A secret ARN of the right shape that is none of samconfig.toml's placeholders.
	realSecretArn = "arn:aws:secretsmanager:ap-northeast-2:111122223333:secret:toss-migration-a1B2c3"
)

// paramSets are the parameter sets the template tests and cfn-guard instantiate: the defaults, a
// production stack with every option the template creates, and a staging stack that brings its
// own key and topic and overrides the throttles.
var paramSets = map[string]map[string]string{
	"defaults": {"AppName": "my-game", "SecretArn": realSecretArn},
	"hardened": {
		"AppName": "my-game", "SecretArn": realSecretArn, "Stage": "production",
		"CreateKmsKey": "true", "AlarmEmail": "ops@example.com",
		"DomainName": "api.my-game.example.com", "HostedZoneId": "Z0123456789ABCDEFGHIJ",
		"CertificateArn": "arn:aws:acm:ap-northeast-2:111122223333:certificate/0f1e2d3c-4b5a-6978-8091-a2b3c4d5e6f7",
		"VerifyHash":     "true", "RemoveTossLoginAtLink": "true", "UnlinkReservedConcurrency": "25", "LogRetentionDays": "365",
	},
	"existing": {
		"AppName": "my-game", "SecretArn": realSecretArn, "Stage": "staging",
		"AllowedOrigins": "https://game.example.com", "DevelopmentOrigins": "http://localhost:5173",
		"KmsKeyArn":     "arn:aws:kms:ap-northeast-2:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		"AlarmTopicArn": "arn:aws:sns:ap-northeast-2:111122223333:ops", "UnlinkReservedConcurrency": "0",
		"LinkThrottleRate": "5", "LinkThrottleBurst": "10",
	},
}

var transforms struct {
	sync.Mutex
	done map[string]*transformResult
}

type transformResult struct {
	once sync.Once
	tpl  obj
	err  error
}

// transformWith is template.yaml transformed with these parameter values, once per distinct set.
func transformWith(t *testing.T, params map[string]string) obj {
	t.Helper()
	var args []string
	for k, v := range params {
		args = append(args, k+"="+v)
	}
	sort.Strings(args)
	key := strings.Join(args, "\x00")
	transforms.Lock()
	if transforms.done == nil {
		transforms.done = map[string]*transformResult{}
	}
	r := transforms.done[key]
	if r == nil {
		r = &transformResult{}
		transforms.done[key] = r
	}
	transforms.Unlock()
	root := moduleRoot(t)
	r.once.Do(func() {
		py, err := exec.LookPath("python3")
		if err != nil {
			r.err = fmt.Errorf("python3 is not on PATH; install Python 3 and `pip install cfn-lint` (it brings aws-sam-translator)")
			return
		}
		cmd := exec.Command(py, append([]string{filepath.Join("functions", "testdata", "transform.py"), "template.yaml"}, args...)...)
		cmd.Dir = root
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			r.err = fmt.Errorf("transform.py template.yaml %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
			return
		}
		r.err = json.Unmarshal(stdout.Bytes(), &r.tpl)
	})
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.tpl
}

// instance is one parameter set applied to a transformed template.
type instance struct {
	t      *testing.T
	tpl    obj
	params map[string]string
	conds  map[string]bool
	busy   map[string]bool
	// asHook also resolves Fn::Sub's references to resources, to placeholder values, as
	// CloudFormation resolves every property before a hook (a Control Tower control) sees it.
	asHook bool
}

// instantiate transforms the template with overrides and applies them (defaults for the rest).
func instantiate(t *testing.T, overrides map[string]string) *instance {
	t.Helper()
	tpl := transformWith(t, overrides)
	in := &instance{t: t, tpl: tpl, params: map[string]string{}, conds: map[string]bool{}, busy: map[string]bool{}}
	declared, _ := tpl["Parameters"].(obj)
	for name, p := range declared {
		if d, ok := get(p, "Default").(string); ok {
			in.params[name] = d
		} else if d, ok := get(p, "Default").(float64); ok {
			in.params[name] = fmt.Sprint(d)
		}
	}
	for k, v := range overrides {
		if declared[k] == nil {
			t.Fatalf("parameter %s is not declared in the template", k)
		}
		in.params[k] = v
	}
	for name := range declared {
		if _, ok := in.params[name]; !ok {
			t.Fatalf("parameter %s has no default and no value in this set", name)
		}
	}
	return in
}

var pseudo = map[string]string{
	"AWS::Region": testRegion, "AWS::AccountId": testAccount, "AWS::Partition": "aws",
	"AWS::StackName": testStack, "AWS::URLSuffix": "amazonaws.com",
}

// cond evaluates a named condition.
func (in *instance) cond(name string) bool {
	if v, ok := in.conds[name]; ok {
		return v
	}
	if in.busy[name] {
		in.t.Fatalf("condition %s refers to itself", name)
	}
	in.busy[name] = true
	def := get(in.tpl, "Conditions", name)
	if def == nil {
		in.t.Fatalf("condition %s is not declared", name)
	}
	v := in.truth(def)
	in.conds[name] = v
	return v
}

// truth evaluates a condition or rule expression.
func (in *instance) truth(v any) bool {
	m, ok := v.(obj)
	if !ok || len(m) != 1 {
		in.t.Fatalf("not a condition: %v", v)
	}
	for fn, arg := range m {
		args, _ := arg.([]any)
		switch fn {
		case "Condition":
			return in.cond(arg.(string))
		case "Fn::Equals":
			a, _ := in.resolve(args[0])
			b, _ := in.resolve(args[1])
			return fmt.Sprint(a) == fmt.Sprint(b)
		case "Fn::Not":
			return !in.truth(args[0])
		case "Fn::And":
			for _, a := range args {
				if !in.truth(a) {
					return false
				}
			}
			return true
		case "Fn::Or":
			for _, a := range args {
				if in.truth(a) {
					return true
				}
			}
			return false
		case "Fn::Contains": // rules only: [list of values, value]
			list, _ := in.resolve(args[0])
			val, _ := in.resolve(args[1])
			for _, e := range stringList(list) {
				if e == fmt.Sprint(val) {
					return true
				}
			}
			return false
		}
		in.t.Fatalf("unsupported condition function %s", fn)
	}
	return false
}

// noValue marks a value that AWS::NoValue removes.
type noValue struct{}

// resolve returns v as deployed; ok is false where AWS::NoValue removes it.
func (in *instance) resolve(v any) (any, bool) {
	switch v := v.(type) {
	case obj:
		if len(v) == 1 {
			for fn, arg := range v {
				switch fn {
				case "Fn::If":
					args, _ := arg.([]any)
					if len(args) != 3 {
						in.t.Fatalf("Fn::If with %d arguments", len(args))
					}
					if in.cond(args[0].(string)) {
						return in.resolve(args[1])
					}
					return in.resolve(args[2])
				case "Ref":
					name, _ := arg.(string)
					if name == "AWS::NoValue" {
						return noValue{}, false
					}
					if p, ok := in.params[name]; ok {
						// A Number parameter's value is a number where CloudFormation uses it.
						if get(in.tpl, "Parameters", name, "Type") == "Number" {
							if f, err := strconv.ParseFloat(p, 64); err == nil {
								return f, true
							}
						}
						return p, true
					}
					if p, ok := pseudo[name]; ok {
						return p, true
					}
					return v, true
				case "Fn::Sub":
					if s, ok := arg.(string); ok {
						return in.sub(s, nil), true
					}
					if l, ok := arg.([]any); ok && len(l) == 2 {
						s, _ := l[0].(string)
						vars, _ := in.resolve(l[1])
						return in.sub(s, vars.(obj)), true
					}
				case "Fn::Join":
					args, _ := arg.([]any)
					sep, _ := args[0].(string)
					parts, _ := in.resolve(args[1])
					list, _ := parts.([]any)
					var strs []string
					for _, p := range list {
						s, ok := p.(string)
						if !ok {
							return obj{"Fn::Join": []any{sep, list}}, true
						}
						strs = append(strs, s)
					}
					return strings.Join(strs, sep), true
				case "Fn::Split":
					args, _ := arg.([]any)
					sep, _ := args[0].(string)
					s, _ := in.resolve(args[1])
					if str, ok := s.(string); ok {
						var out []any
						for _, e := range strings.Split(str, sep) {
							out = append(out, e)
						}
						return out, true
					}
					return obj{"Fn::Split": []any{sep, s}}, true
				}
			}
		}
		out := obj{}
		for k, e := range v {
			if r, ok := in.resolve(e); ok {
				out[k] = r
			}
		}
		return out, true
	case []any:
		out := []any{}
		for _, e := range v {
			if r, ok := in.resolve(e); ok {
				out = append(out, r)
			}
		}
		return out, true
	}
	return v, true
}

var subRefVar = regexp.MustCompile(`\$\{([A-Za-z0-9:_]+)(\.[A-Za-z0-9.]+)?\}`)

// sub replaces ${Var} (the Fn::Sub's own variables), ${Parameter} and ${AWS::Pseudo}; it leaves
// references to resources unless asHook, which makes them placeholders.
func (in *instance) sub(s string, vars obj) string {
	return subRefVar.ReplaceAllStringFunc(s, func(m string) string {
		name := m[2 : len(m)-1]
		if v, ok := vars[name]; ok {
			if str, ok := v.(string); ok {
				return str
			}
			if ref, ok := get(v, "Ref").(string); ok && in.asHook {
				return "physical-id-of-" + ref
			}
			return m
		}
		if p, ok := in.params[name]; ok {
			return p
		}
		if p, ok := pseudo[name]; ok {
			return p
		}
		if in.asHook {
			return "physical-id-of-" + name
		}
		return m
	})
}

// deployed is the template as CloudFormation would deploy it with these parameters.
func (in *instance) deployed() obj {
	out := obj{}
	for k, v := range in.tpl {
		switch k {
		case "Resources", "Outputs":
			kept := obj{}
			for id, r := range v.(obj) {
				if c, ok := get(r, "Condition").(string); ok && !in.cond(c) {
					continue
				}
				res, _ := in.resolve(r)
				delete(res.(obj), "Condition")
				kept[id] = res
			}
			out[k] = kept
		default:
			out[k] = v
		}
	}
	return out
}

// hookView is deployed() with every Fn::Sub resolved, as a CloudFormation hook sees properties.
func (in *instance) hookView() obj {
	in.asHook = true
	defer func() { in.asHook = false }()
	return in.deployed()
}

// refusals are the AssertDescriptions of the Rules that this parameter set breaks.
func (in *instance) refusals() []string {
	var out []string
	rules, _ := in.tpl["Rules"].(obj)
	for name, r := range rules {
		if c := get(r, "RuleCondition"); c != nil && !in.truth(c) {
			continue
		}
		asserts, _ := get(r, "Assertions").([]any)
		if len(asserts) == 0 {
			in.t.Errorf("rule %s has no assertions", name)
		}
		for _, a := range asserts {
			if !in.truth(get(a, "Assert")) {
				msg, _ := get(a, "AssertDescription").(string)
				out = append(out, name+": "+msg)
			}
		}
	}
	sort.Strings(out)
	return out
}
