package functions

// What the template adds for operating the product (issue 9 §2, §4, §5): the dashboard and the
// alarms read exactly the metrics the functions emit, throttles and reserved concurrency follow
// their derivation, the deploy traps are refused, and the optional domain and KMS key are wired.
// Each check runs on the template as CloudFormation would deploy it with a given parameter set.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/tossgame/migration-server/shared/routes"
)

// emitted is the metric contract the functions' EMF output follows (docs/operations.md, "Metrics
// the dashboard reads"): each metric's dimension sets, sorted.
var emitted = map[string][][]string{
	"Requests":              {{"Outcome", "Route"}, {"Outcome", "Referrer", "Route"}},
	"Panics":                {{"Route"}},
	"TossLatency":           {{"Call"}},
	"TossErrors":            {{"Call"}},
	"SecretRefreshes":       {{"Function"}},
	"SecretRefreshFailures": {{"Function"}},
	"CertificateDaysLeft":   {{}, {"Certificate"}},
	"EventsPublished":       {{"DetailType"}},
	"EventsFailed":          {{}},
	"TossLoginRemovals":     {{"Outcome"}},
}

var (
	tossCalls = []string{"generate-token", "login-me", "verify-hash", "remove-access"}
	anyRoute  = []string{"internal_error", "method_not_allowed", "too_large"}
	outcomes  = map[string][]string{
		"status": {"mapped", "not_mapped", "invalid_request", "unavailable"},
		"link": {"linked", "already_mapped", "hash_conflict", "user_conflict", "invalid_code", "toss_unavailable",
			"sandbox_refused", "config_fault", "unlinked_meanwhile", "invalid_request", "unavailable"},
		"unlink": {"removed", "unknown_user", "unauthorized", "not_configured", "invalid_request", "unavailable"},
	}
	referrers = []string{"UNLINK", "WITHDRAWAL_TERMS", "WITHDRAWAL_TOSS", "none", "other"}
)

// dimensionValueOK says whether a fixed dimension value is one the functions emit.
func dimensionValueOK(metric string, dims map[string]string, name, value string) bool {
	switch name {
	case "Route":
		return routeTable[value] != nil
	case "Call":
		return slices.Contains(tossCalls, value)
	case "Referrer":
		return slices.Contains(referrers, value)
	case "Outcome":
		if metric == "TossLoginRemovals" {
			return value == "removed" || value == "failed"
		}
		if route, ok := dims["Route"]; ok {
			return slices.Contains(outcomes[route], value) || slices.Contains(anyRoute, value)
		}
		return false
	}
	return false // Function, Certificate, DetailType: never a fixed value here
}

// metricRef is one metric a dashboard widget or an alarm reads.
type metricRef struct {
	where     string
	namespace string
	name      string
	dims      map[string]string // fixed values; "" for a SEARCH's free dimension
	search    bool              // dims is the exact dimension set of a SEARCH schema
	stat      string            // a dashboard row's own statistic, if it sets one
}

// ownMetrics are the metrics the template itself derives (log metric filters), with no dimension.
func ownMetrics(tpl obj) map[string]bool {
	out := map[string]bool{}
	for _, f := range resources(tpl, "AWS::Logs::MetricFilter") {
		for _, m := range get(f, "Properties", "MetricTransformations").([]any) {
			out[get(m, "MetricName").(string)] = true
		}
	}
	return out
}

// checkMetric reports a metric reference that the functions (or the template's metric filters)
// do not produce in that namespace with those dimensions.
func checkMetric(t *testing.T, tpl obj, ns string, m metricRef) {
	t.Helper()
	if m.namespace != ns {
		if !strings.HasPrefix(m.namespace, "AWS/") {
			t.Errorf("%s reads namespace %q, neither MetricsNamespace nor AWS/*", m.where, m.namespace)
		}
		return
	}
	names := make([]string, 0, len(m.dims))
	for k := range m.dims {
		names = append(names, k)
	}
	sort.Strings(names)
	if ownMetrics(tpl)[m.name] {
		if len(names) != 0 {
			t.Errorf("%s reads %s with dimensions %v; the metric filter gives it none", m.where, m.name, names)
		}
		return
	}
	sets, ok := emitted[m.name]
	if !ok {
		t.Errorf("%s reads %s, which no function emits", m.where, m.name)
		return
	}
	if !slices.ContainsFunc(sets, func(s []string) bool { return slices.Equal(s, names) }) {
		t.Errorf("%s reads %s with dimensions %v; it is emitted with %v", m.where, m.name, names, sets)
	}
	for k, v := range m.dims {
		if v != "" && !dimensionValueOK(m.name, m.dims, k, v) {
			t.Errorf("%s reads %s with %s=%q, a value the functions never emit", m.where, m.name, k, v)
		}
	}
}

// alarmMetrics are the metrics an alarm reads (a single metric, or each MetricStat of a math alarm).
func alarmMetrics(id string, a obj) []metricRef {
	p := a["Properties"].(obj)
	dimsOf := func(v any) map[string]string {
		out := map[string]string{}
		l, _ := v.([]any)
		for _, d := range l {
			val, _ := get(d, "Value").(string)
			if val == "" {
				val = "<ref>"
			}
			out[get(d, "Name").(string)] = val
		}
		return out
	}
	if ns, ok := p["Namespace"].(string); ok {
		return []metricRef{{where: "alarm " + id, namespace: ns, name: p["MetricName"].(string), dims: dimsOf(p["Dimensions"])}}
	}
	var out []metricRef
	ms, _ := p["Metrics"].([]any)
	for _, m := range ms {
		if st := get(m, "MetricStat", "Metric"); st != nil {
			out = append(out, metricRef{where: "alarm " + id, namespace: get(st, "Namespace").(string),
				name: get(st, "MetricName").(string), dims: dimsOf(get(st, "Dimensions"))})
		}
	}
	return out
}

func namespaceOf(t *testing.T, in *instance) string {
	t.Helper()
	return in.params["MetricsNamespace"]
}

func TestEveryAlarmNotifiesTheAlarmTopicAndReadsEmittedMetrics(t *testing.T) {
	t.Parallel()
	for name, set := range paramSets {
		t.Run(name, func(t *testing.T) {
			in := instantiate(t, set)
			tpl := in.deployed()
			ns := namespaceOf(t, in)
			var target any = obj{"Ref": "AlarmTopic"}
			if arn := set["AlarmTopicArn"]; arn != "" {
				target = arn
				if get(tpl, "Resources", "AlarmTopic") != nil {
					t.Error("AlarmTopic is created although AlarmTopicArn is given")
				}
			} else {
				resource(t, tpl, "AlarmTopic", "AWS::SNS::Topic")
			}
			subs := resources(tpl, "AWS::SNS::Subscription")
			if email := set["AlarmEmail"]; email != "" {
				if len(subs) != 1 {
					t.Fatalf("AlarmEmail set: %d subscriptions, want 1", len(subs))
				}
				for _, s := range subs {
					if p := s["Properties"].(obj); p["Protocol"] != "email" || p["Endpoint"] != email || !jsonEqual(p["TopicArn"], target) {
						t.Errorf("the e-mail subscription is %v, want %s on %v", p, email, target)
					}
				}
			} else if len(subs) != 0 {
				t.Errorf("no AlarmEmail, yet %d subscriptions", len(subs))
			}
			alarms := resources(tpl, "AWS::CloudWatch::Alarm")
			if len(alarms) < 20 {
				t.Errorf("%d alarms; the template declares at least 20", len(alarms))
			}
			for id, a := range alarms {
				for _, k := range []string{"AlarmActions", "OKActions"} {
					acts, _ := get(a, "Properties", k).([]any)
					if len(acts) != 1 || !jsonEqual(acts[0], target) {
						t.Errorf("alarm %s %s = %v, want [%v]", id, k, acts, target)
					}
				}
				if get(a, "Properties", "TreatMissingData") == nil {
					t.Errorf("alarm %s does not say how missing data counts", id)
				}
				for _, m := range alarmMetrics(id, a) {
					checkMetric(t, tpl, ns, m)
				}
			}
		})
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// alarmSpec is one alarm the issue asks for: what it reads and when it fires.
type alarmSpec struct {
	namespace, metric string
	dims              map[string]string // per metric read; a math alarm must read each of mathOver
	mathOver          []map[string]string
	stat              string
	threshold         float64
	op                string
	missing           string
}

func TestTheAlarmsTheIssueAsksForExist(t *testing.T) {
	t.Parallel()
	in := instantiate(t, paramSets["defaults"])
	tpl := in.deployed()
	ns := namespaceOf(t, in)
	ge, lt := "GreaterThanOrEqualToThreshold", "LessThanThreshold"
	ref := func(id string) string { return "ref:" + id }
	specs := map[string]alarmSpec{
		"certificate < 30 days": {ns, "CertificateDaysLeft", map[string]string{}, nil, "Minimum", 30, lt, "notBreaching"},
		// Silence is the danger here: no measurement for two days alarms too.
		"certificate < 7 days":  {ns, "CertificateDaysLeft", map[string]string{}, nil, "Minimum", 7, lt, "breaching"},
		"invalid-code spike":    {ns, "Requests", map[string]string{"Route": "link", "Outcome": "invalid_code"}, nil, "Sum", 20, ge, "notBreaching"},
		"unauthorized callback": {ns, "Requests", map[string]string{"Route": "unlink", "Outcome": "unauthorized"}, nil, "Sum", 3, ge, "notBreaching"},
		"public API 429":        {ns, "PublicApiThrottled", map[string]string{}, nil, "Sum", 10, ge, "notBreaching"},
		"callback 429":          {ns, "CallbackApiThrottled", map[string]string{}, nil, "Sum", 1, ge, "notBreaching"},
		"dead-letter queue":     {"AWS/SQS", "ApproximateNumberOfMessagesVisible", map[string]string{"QueueName": ref("EventsDeadLetterQueue")}, nil, "Maximum", 1, ge, "notBreaching"},
		"public API 5xx":        {"AWS/ApiGateway", "5xx", map[string]string{"ApiId": ref("HttpApi")}, nil, "Sum", 1, ge, "notBreaching"},
		"callback API 5xx":      {"AWS/ApiGateway", "5xx", map[string]string{"ApiId": ref("CallbackApi")}, nil, "Sum", 1, ge, "notBreaching"},
	}
	var tossErrors []map[string]string
	for _, c := range tossCalls {
		tossErrors = append(tossErrors, map[string]string{"Call": c})
	}
	specs["Toss errors"] = alarmSpec{ns, "TossErrors", nil, tossErrors, "Sum", 5, ge, "notBreaching"}
	for _, m := range []string{"ThrottledRequests", "SystemErrors"} {
		var ops []map[string]string
		for _, op := range []string{"GetItem", "PutItem", "TransactWriteItems"} {
			ops = append(ops, map[string]string{"TableName": ref("MappingTable"), "Operation": op})
		}
		specs["table "+m] = alarmSpec{"AWS/DynamoDB", m, nil, ops, "Sum", 1, ge, "notBreaching"}
	}
	for name := range routeTable {
		id := functionID(name)
		specs[name+" panics"] = alarmSpec{ns, "Panics", map[string]string{"Route": name}, nil, "Sum", 1, ge, "notBreaching"}
		for _, m := range []string{"Errors", "Throttles"} {
			specs[name+" Lambda "+m] = alarmSpec{"AWS/Lambda", m, map[string]string{"FunctionName": ref(id)}, nil, "Sum", 1, ge, "notBreaching"}
		}
	}

	// dims of an alarm metric with Refs written as ref:<Id>.
	dimsOf := func(v any) map[string]string {
		out := map[string]string{}
		l, _ := v.([]any)
		for _, d := range l {
			val := get(d, "Value")
			s, ok := val.(string)
			if !ok {
				if ids := refsTo(val, allIDs(tpl)); len(ids) == 1 {
					s = "ref:" + ids[0]
				}
			}
			out[get(d, "Name").(string)] = s
		}
		return out
	}
	for what, want := range specs {
		found := false
		for _, a := range resources(tpl, "AWS::CloudWatch::Alarm") {
			p := a["Properties"].(obj)
			threshold, _ := p["Threshold"].(float64)
			if s, ok := p["Threshold"].(string); ok {
				threshold, _ = strconv.ParseFloat(s, 64)
			}
			if threshold != want.threshold || p["ComparisonOperator"] != want.op || p["TreatMissingData"] != want.missing {
				continue
			}
			if want.mathOver == nil {
				if p["Namespace"] != want.namespace || p["MetricName"] != want.metric || p["Statistic"] != want.stat ||
					!jsonEqual(dimsOf(p["Dimensions"]), want.dims) {
					continue
				}
			} else {
				var read []map[string]string
				ms, _ := p["Metrics"].([]any)
				for _, m := range ms {
					st := get(m, "MetricStat")
					if st == nil || get(st, "Metric", "Namespace") != want.namespace || get(st, "Metric", "MetricName") != want.metric || get(st, "Stat") != want.stat {
						continue
					}
					read = append(read, dimsOf(get(st, "Metric", "Dimensions")))
				}
				if !jsonEqual(read, want.mathOver) {
					continue
				}
			}
			found = true
		}
		if !found {
			t.Errorf("no alarm for %s (%s %s %v%v, %s %s %v, missing data %s)", what, want.namespace, want.metric,
				want.dims, want.mathOver, want.stat, want.op, want.threshold, want.missing)
		}
	}
}

func allIDs(tpl obj) map[string]bool {
	ids := map[string]bool{}
	for id := range tpl["Resources"].(obj) {
		ids[id] = true
	}
	return ids
}

// The 429 alarms count access-log lines: the filter must match how the access log writes status.
func TestThrottleMetricFiltersMatchTheAccessLogFormat(t *testing.T) {
	t.Parallel()
	tpl := instantiate(t, paramSets["defaults"]).deployed()
	filters := resources(tpl, "AWS::Logs::MetricFilter")
	groups := map[string]bool{}
	for id, f := range filters {
		p := f["Properties"].(obj)
		if p["FilterPattern"] != `{ $.status = "429" }` {
			t.Errorf("%s pattern %v, want the access log's status field as the string \"429\"", id, p["FilterPattern"])
		}
		for _, g := range refsTo(p["LogGroupName"], allIDs(tpl)) {
			groups[g] = true
		}
	}
	for id, st := range resources(tpl, "AWS::ApiGatewayV2::Stage") {
		format, _ := get(st, "Properties", "AccessLogSettings", "Format").(string)
		if !strings.Contains(format, `"status":"$context.status"`) {
			t.Errorf("%s access log has no \"status\":\"$context.status\" field for the 429 filter", id)
		}
		dest := refsTo(get(st, "Properties", "AccessLogSettings", "DestinationArn"), allIDs(tpl))
		if len(dest) != 1 || !groups[dest[0]] {
			t.Errorf("%s logs to %v, which no 429 metric filter reads", id, dest)
		}
	}
}

// dashboard parses the dashboard body with its ${...} references checked and replaced.
func dashboard(t *testing.T, tpl obj) obj {
	t.Helper()
	d := resource(t, tpl, "Dashboard", "AWS::CloudWatch::Dashboard")
	body, ok := get(d, "Properties", "DashboardBody", "Fn::Sub").(string)
	if !ok {
		t.Fatalf("DashboardBody is not an Fn::Sub string: %v", get(d, "Properties", "DashboardBody"))
	}
	ids := allIDs(tpl)
	params, _ := tpl["Parameters"].(obj)
	body = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)(\.[A-Za-z]+)?\}`).ReplaceAllStringFunc(body, func(m string) string {
		name := strings.SplitN(m[2:len(m)-1], ".", 2)[0]
		switch {
		case name == "MetricsNamespace":
			return "TossMigration"
		case pseudo[name] != "":
			return pseudo[name]
		case params[name] != nil:
			return "param:" + name
		case ids[name]:
			return "ref:" + m[2:len(m)-1]
		}
		t.Errorf("the dashboard refers to ${%s}, which is no parameter or resource", name)
		return m
	})
	var out obj
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("the dashboard body is not JSON: %v", err)
	}
	return out
}

var searchExpr = regexp.MustCompile(`^SEARCH\('\{([^}]*)\}((?: [A-Za-z]+="[^"]*")+)', '([A-Za-z0-9.]+)', [0-9]+\)$`)

// widgetMetrics lists what each metric widget reads; a SEARCH contributes its schema's dimensions.
func widgetMetrics(t *testing.T, title string, metrics []any) []metricRef {
	t.Helper()
	var out []metricRef
	for _, row := range metrics {
		r, _ := row.([]any)
		if len(r) == 1 {
			if e, ok := get(r[0], "expression").(string); ok {
				m := searchExpr.FindStringSubmatch(e)
				if m == nil {
					t.Errorf("widget %q: expression %q is not a SEARCH this test understands", title, e)
					continue
				}
				schema := strings.Split(m[1], ",")
				ref := metricRef{where: "widget " + title, namespace: schema[0], dims: map[string]string{}, search: true}
				for _, d := range schema[1:] {
					ref.dims[d] = ""
				}
				for _, kv := range regexp.MustCompile(`([A-Za-z]+)="([^"]*)"`).FindAllStringSubmatch(m[2], -1) {
					if kv[1] == "MetricName" {
						ref.name = kv[2]
					} else if _, ok := ref.dims[kv[1]]; ok {
						ref.dims[kv[1]] = kv[2]
					} else {
						t.Errorf("widget %q: SEARCH filters on %s, not in its schema", title, kv[1])
					}
				}
				out = append(out, ref)
				continue
			}
		}
		var strs []string
		for _, e := range r {
			if s, ok := e.(string); ok {
				strs = append(strs, s)
			}
		}
		if len(strs) < 2 || len(strs)%2 != 0 {
			t.Errorf("widget %q: metric row %v is not namespace, name and dimension pairs (no \"...\" shorthand)", title, row)
			continue
		}
		ref := metricRef{where: "widget " + title, namespace: strs[0], name: strs[1], dims: map[string]string{}}
		if st, ok := get(r[len(r)-1], "stat").(string); ok {
			ref.stat = st
		}
		for i := 2; i < len(strs); i += 2 {
			ref.dims[strs[i]] = strs[i+1]
		}
		out = append(out, ref)
	}
	return out
}

func TestTheDashboardShowsWhatTheIssueAsksFromEmittedMetrics(t *testing.T) {
	t.Parallel()
	in := instantiate(t, paramSets["defaults"])
	tpl := in.deployed()
	body := dashboard(t, in.tpl) // the body before its Fn::Sub is resolved
	widgets, _ := body["widgets"].([]any)
	type shown struct {
		metricRef
		stat   string
		period float64
		view   string
		total  bool
	}
	var all []shown
	alarmIDs := map[string]bool{}
	for _, w := range widgets {
		p, _ := get(w, "properties").(obj)
		title, _ := p["title"].(string)
		switch get(w, "type") {
		case "metric":
			if p["region"] != testRegion {
				t.Errorf("widget %q region %v, want the stack's", title, p["region"])
			}
			for _, m := range widgetMetrics(t, title, p["metrics"].([]any)) {
				if m.namespace == "TossMigration" {
					m.namespace = in.params["MetricsNamespace"]
				}
				checkMetric(t, tpl, namespaceOf(t, in), m)
				period, _ := p["period"].(float64)
				stat, _ := p["stat"].(string)
				if m.stat != "" {
					stat = m.stat
				}
				all = append(all, shown{m, stat, period, fmt.Sprint(p["view"]), p["setPeriodToTimeRange"] == true})
			}
		case "alarm":
			for _, a := range stringList(p["alarms"]) {
				id := strings.TrimSuffix(strings.TrimPrefix(a, "ref:"), ".Arn")
				if get(tpl, "Resources", id, "Type") != "AWS::CloudWatch::Alarm" {
					t.Errorf("the alarm widget lists %s, which is no alarm", a)
				}
				alarmIDs[id] = true
			}
		}
	}
	for id := range resources(tpl, "AWS::CloudWatch::Alarm") {
		if !alarmIDs[id] {
			t.Errorf("alarm %s is not on the dashboard's alarm widget", id)
		}
	}
	has := func(what string, ok func(s shown) bool) {
		t.Helper()
		if !slices.ContainsFunc(all, ok) {
			t.Errorf("the dashboard does not show %s", what)
		}
	}
	linked := func(s shown) bool {
		return s.name == "Requests" && s.dims["Route"] == "link" && s.dims["Outcome"] == "linked" && s.stat == "Sum"
	}
	has("links per day", func(s shown) bool { return linked(s) && s.period == 86400 })
	has("links in total (over the range)", func(s shown) bool { return linked(s) && s.total && s.view == "singleValue" })
	for route := range routeTable {
		has(route+" outcomes", func(s shown) bool {
			_, free := s.dims["Outcome"]
			return s.name == "Requests" && s.dims["Route"] == route && free && s.dims["Outcome"] == ""
		})
	}
	has("callback results by referrer", func(s shown) bool {
		_, ok := s.dims["Referrer"]
		return s.name == "Requests" && s.dims["Route"] == "unlink" && ok && s.dims["Referrer"] == ""
	})
	for _, c := range tossCalls {
		for _, st := range []string{"p50", "p99"} {
			has("Toss latency "+st+" of "+c, func(s shown) bool { return s.name == "TossLatency" && s.dims["Call"] == c && s.stat == st })
		}
		has("Toss errors of "+c, func(s shown) bool { return s.name == "TossErrors" && s.dims["Call"] == c })
	}
	has("API 429s", func(s shown) bool { return s.name == "PublicApiThrottled" })
	has("callback 429s", func(s shown) bool { return s.name == "CallbackApiThrottled" })
	for name := range routeTable {
		for _, m := range []string{"Errors", "Throttles"} {
			has(name+" Lambda "+m, func(s shown) bool {
				return s.namespace == "AWS/Lambda" && s.name == m && s.dims["FunctionName"] == "ref:"+functionID(name)
			})
		}
	}
	has("certificate days left", func(s shown) bool {
		return s.name == "CertificateDaysLeft" && len(s.dims) == 0 && s.stat == "Minimum"
	})
}

// callsPerLink is what one successful link spends of Toss's quota.
func callsPerLink(verify, remove bool) int {
	n := 2 // generate-token, login-me
	if verify {
		n++
	}
	if remove {
		n++
	}
	return n
}

const (
	tossCallsPerMinute = 3000
	linkShareOfToss    = 0.8 // the rest is the studio's other Toss calls and the throttle's imprecision
)

// stageRoute is the throttle of one route key on the stage of the API that serves it.
func stageRoute(t *testing.T, tpl obj, api, routeKey string) (rate, burst float64) {
	t.Helper()
	for id, st := range resources(tpl, "AWS::ApiGatewayV2::Stage") {
		if !slices.Equal(refsTo(get(st, "Properties", "ApiId"), map[string]bool{api: true}), []string{api}) {
			continue
		}
		rs := get(st, "Properties", "RouteSettings", routeKey)
		if rs == nil {
			t.Fatalf("%s has no RouteSettings for %q", id, routeKey)
		}
		num := func(v any) float64 {
			switch v := v.(type) {
			case float64:
				return v
			case string:
				f, err := strconv.ParseFloat(v, 64)
				if err == nil {
					return f
				}
			}
			t.Fatalf("%s %q throttle %v is not a number", id, routeKey, v)
			return 0
		}
		return num(get(rs, "ThrottlingRateLimit")), num(get(rs, "ThrottlingBurstLimit"))
	}
	t.Fatalf("no stage for %s", api)
	return 0, 0
}

// apiOf is the API serving a route: browsers' routes on the public API, the callback on its own.
func apiOf(r routes.Route) string {
	if r.CORS {
		return "HttpApi"
	}
	return "CallbackApi"
}

func TestTheLinkThrottleKeepsTossWithinItsQuotaForEveryLinkCost(t *testing.T) {
	t.Parallel()
	budget := linkShareOfToss * tossCallsPerMinute
	for _, verify := range []bool{false, true} {
		for _, remove := range []bool{false, true} {
			calls := callsPerLink(verify, remove)
			t.Run(fmt.Sprintf("%d calls a link", calls), func(t *testing.T) {
				t.Parallel()
				set := map[string]string{"AppName": "my-game", "SecretArn": realSecretArn,
					"VerifyHash": strconv.FormatBool(verify), "RemoveTossLoginAtLink": strconv.FormatBool(remove)}
				tpl := instantiate(t, set).deployed()
				rate, burst := stageRoute(t, tpl, "HttpApi", "POST "+routes.Link.Path)
				// A token bucket lets through at most burst + 60 x rate requests in any minute.
				perMinute := float64(calls) * (burst + 60*rate)
				if perMinute > budget {
					t.Errorf("rate %v burst %v lets links make %v Toss calls a minute, over %v (%v%% of %d)",
						rate, burst, perMinute, budget, linkShareOfToss*100, tossCallsPerMinute)
				}
				// ... and the derivation spends the budget rather than starving players.
				if perMinute < 0.9*budget || rate < 1 || burst < rate {
					t.Errorf("rate %v burst %v uses %v of %v calls a minute: the derived default wastes the budget", rate, burst, perMinute, budget)
				}
			})
		}
	}
	// An explicit value is used as given.
	tpl := instantiate(t, paramSets["existing"]).deployed()
	if rate, burst := stageRoute(t, tpl, "HttpApi", "POST "+routes.Link.Path); rate != 5 || burst != 10 {
		t.Errorf("LinkThrottleRate=5 LinkThrottleBurst=10 gave rate %v burst %v", rate, burst)
	}
}

func TestEveryRouteHasItsOwnThrottleOnItsOwnAPI(t *testing.T) {
	t.Parallel()
	in := instantiate(t, paramSets["defaults"])
	tpl := in.deployed()
	param := func(name string) float64 {
		f, err := strconv.ParseFloat(in.params[name], 64)
		if err != nil {
			t.Fatalf("parameter %s = %q", name, in.params[name])
		}
		return f
	}
	want := map[string][2]float64{
		routes.Status.Function: {param("StatusThrottleRate"), param("StatusThrottleBurst")},
		routes.Unlink.Function: {param("CallbackThrottleRate"), param("CallbackThrottleBurst")},
	}
	for _, r := range routes.All {
		for _, m := range r.Methods {
			rate, burst := stageRoute(t, tpl, apiOf(r), m+" "+r.Path)
			if w, ok := want[r.Function]; ok && (rate != w[0] || burst != w[1]) {
				t.Errorf("%s %s throttle %v/%v, want %v/%v from its parameters", m, r.Path, rate, burst, w[0], w[1])
			}
		}
	}
	// The callback's burst can run all at once within the unlink function's reserved concurrency.
	if reserved := param("UnlinkReservedConcurrency"); param("CallbackThrottleBurst") > reserved {
		t.Errorf("CallbackThrottleBurst %v exceeds UnlinkReservedConcurrency %v", param("CallbackThrottleBurst"), reserved)
	}
	for id, st := range resources(tpl, "AWS::ApiGatewayV2::Stage") {
		if get(st, "Properties", "DefaultRouteSettings", "ThrottlingRateLimit") == nil {
			t.Errorf("%s has no default route throttle", id)
		}
	}
}

func TestTheUnlinkFunctionHasReservedConcurrency(t *testing.T) {
	t.Parallel()
	for name, set := range paramSets {
		t.Run(name, func(t *testing.T) {
			in := instantiate(t, set)
			tpl := in.deployed()
			fn := resource(t, tpl, functionID(routes.Unlink.Function), "AWS::Lambda::Function")
			got := get(fn, "Properties", "ReservedConcurrentExecutions")
			if in.params["UnlinkReservedConcurrency"] == "0" {
				if got != nil {
					t.Errorf("UnlinkReservedConcurrency=0 still reserves %v (0 would stop the function)", got)
				}
				return
			}
			if fmt.Sprint(got) != in.params["UnlinkReservedConcurrency"] {
				t.Errorf("reserved concurrency %v, want UnlinkReservedConcurrency %s", got, in.params["UnlinkReservedConcurrency"])
			}
		})
	}
}

func TestParameterSetsThatShouldDeployPassTheRules(t *testing.T) {
	t.Parallel()
	for name, set := range paramSets {
		t.Run(name, func(t *testing.T) {
			if r := instantiate(t, set).refusals(); len(r) != 0 {
				t.Errorf("refused: %v", r)
			}
		})
	}
}

// samconfigEnvs reads each environment's deploy parameters from samconfig.toml (name -> key -> value,
// parameter_overrides split into Name=Value).
func samconfigEnvs(t *testing.T) map[string]map[string]string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(moduleRoot(t), "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	var env string
	section := regexp.MustCompile(`^\[([a-z0-9_-]+)\.deploy\.parameters\]$`)
	kv := regexp.MustCompile(`^([a-z_]+) = (.*)$`)
	for _, line := range strings.Split(string(src), "\n") {
		if m := section.FindStringSubmatch(line); m != nil {
			env = m[1]
			out[env] = map[string]string{}
			continue
		}
		if strings.HasPrefix(line, "[") {
			env = ""
		}
		if m := kv.FindStringSubmatch(line); m != nil && env != "" {
			v, err := strconv.Unquote(m[2])
			if err != nil {
				v = m[2]
			}
			if m[1] == "parameter_overrides" {
				for _, p := range regexp.MustCompile(`([A-Za-z0-9]+)="([^"]*)"`).FindAllStringSubmatch(v, -1) {
					out[env]["param:"+p[1]] = p[2]
				}
			}
			out[env][m[1]] = v
		}
	}
	return out
}

func TestSamconfigHasStagingAndProductionWhosePlaceholdersAreRefused(t *testing.T) {
	t.Parallel()
	envs := samconfigEnvs(t)
	for _, name := range []string{"staging", "production"} {
		env := envs[name]
		if env == nil {
			t.Errorf("samconfig.toml has no [%s.deploy.parameters]", name)
			continue
		}
		if env["param:Stage"] != name {
			t.Errorf("%s deploys Stage=%q", name, env["param:Stage"])
		}
		if !strings.Contains(env["stack_name"], name) || env["region"] != testRegion || env["capabilities"] != "CAPABILITY_IAM" {
			t.Errorf("%s: stack %q region %q capabilities %q", name, env["stack_name"], env["region"], env["capabilities"])
		}
		set := map[string]string{}
		for k, v := range env {
			if p, ok := strings.CutPrefix(k, "param:"); ok {
				set[p] = v
			}
		}
		refused := instantiate(t, set).refusals()
		if len(refused) != 1 || !strings.HasPrefix(refused[0], "SecretArnIsNotAPlaceholder:") || !strings.Contains(refused[0], "placeholder") {
			t.Errorf("%s as shipped (SecretArn %s) is refused with %v, want the placeholder message", name, set["SecretArn"], refused)
		}
		set["SecretArn"] = realSecretArn
		if r := instantiate(t, set).refusals(); len(r) != 0 {
			t.Errorf("%s with a real SecretArn is refused: %v", name, r)
		}
	}
}

func TestTheRulesRefuseTheDeployTraps(t *testing.T) {
	t.Parallel()
	base := func(extra ...string) map[string]string {
		m := map[string]string{"AppName": "my-game", "SecretArn": realSecretArn}
		for i := 0; i < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	cases := []struct {
		name string
		set  map[string]string
		rule string // "" = accepted
	}{
		{"production with a development origin is refused", base("Stage", "production", "DevelopmentOrigins", "http://localhost:5173"), "ProductionHasNoDevelopmentOrigins"},
		{"staging with a development origin is accepted", base("Stage", "staging", "DevelopmentOrigins", "http://localhost:5173"), ""},
		{"a created and an existing KMS key at once are refused", base("CreateKmsKey", "true", "KmsKeyArn", paramSets["existing"]["KmsKeyArn"]), "OneKmsKeyChoice"},
		{"a domain without a certificate is refused", base("DomainName", "api.example.com"), "CustomDomainHasCertificate"},
		{"a hosted zone without a domain is refused", base("HostedZoneId", "Z0123456789ABCDEFGHIJ"), "HostedZoneNeedsDomain"},
		{"the old single placeholder ARN is refused", base("SecretArn", "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:toss-migration-XXXXXX"), "SecretArnIsNotAPlaceholder"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := instantiate(t, c.set).refusals()
			switch {
			case c.rule == "" && len(got) != 0:
				t.Errorf("refused: %v", got)
			case c.rule != "" && (len(got) != 1 || !strings.HasPrefix(got[0], c.rule+":")):
				t.Errorf("refusals %v, want exactly %s", got, c.rule)
			}
		})
	}
}

// Origins: https only in AllowedOrigins whatever the stage; http only through DevelopmentOrigins.
func TestOriginPatternsKeepHTTPOutOfAllowedOrigins(t *testing.T) {
	t.Parallel()
	tpl := cfn(t)
	re := func(p string) *regexp.Regexp {
		return regexp.MustCompile(get(tpl, "Parameters", p, "AllowedPattern").(string))
	}
	allowed, dev := re("AllowedOrigins"), re("DevelopmentOrigins")
	for _, s := range []string{"http://localhost:5173", "https://a.example.com,http://b.example.com"} {
		if allowed.MatchString(s) {
			t.Errorf("AllowedOrigins accepts %q", s)
		}
		if !dev.MatchString(s) {
			t.Errorf("DevelopmentOrigins refuses %q", s)
		}
	}
	if !allowed.MatchString("https://a.example.com,https://b.example.com:8443") || !allowed.MatchString("") {
		t.Error("AllowedOrigins refuses plain https origins or the empty default")
	}
}

func TestCORSOriginsAsDeployed(t *testing.T) {
	t.Parallel()
	cases := map[string][]string{
		"defaults": {"https://my-game.apps.tossmini.com", "https://my-game.private-apps.tossmini.com"},
		"existing": {"https://game.example.com", "http://localhost:5173"},
	}
	for name, want := range cases {
		tpl := instantiate(t, paramSets[name]).deployed()
		got := stringList(get(tpl, "Resources", "HttpApi", "Properties", "Body", "x-amazon-apigateway-cors", "allowOrigins"))
		if !slices.Equal(got, want) {
			t.Errorf("%s: CORS origins %v, want %v", name, got, want)
		}
		if get(tpl, "Resources", "CallbackApi", "Properties", "Body", "x-amazon-apigateway-cors") != nil {
			t.Errorf("%s: the callback API answers CORS", name)
		}
	}
}

func TestSandboxLinksFollowTheStage(t *testing.T) {
	t.Parallel()
	for stage, want := range map[string]string{"production": "false", "staging": "true"} {
		tpl := instantiate(t, map[string]string{"AppName": "my-game", "SecretArn": realSecretArn, "Stage": stage}).deployed()
		got := get(tpl, "Resources", functionID("link"), "Properties", "Environment", "Variables", "ALLOW_SANDBOX_LINKS")
		if got != want {
			t.Errorf("Stage=%s: ALLOW_SANDBOX_LINKS=%v, want %s", stage, got, want)
		}
	}
}

func TestKMSKeyEncryptsTheTableAndEveryLogGroup(t *testing.T) {
	t.Parallel()
	cases := map[string]any{
		"defaults": nil,
		"hardened": obj{"Fn::GetAtt": []any{"KmsKey", "Arn"}},
		"existing": paramSets["existing"]["KmsKeyArn"],
	}
	for name, key := range cases {
		t.Run(name, func(t *testing.T) {
			tpl := instantiate(t, paramSets[name]).deployed()
			sse := get(tpl, "Resources", "MappingTable", "Properties", "SSESpecification")
			if get(sse, "SSEEnabled") != true {
				t.Errorf("table SSE %v", sse)
			}
			if !jsonEqual(get(sse, "KMSMasterKeyId"), key) {
				t.Errorf("table key %v, want %v", get(sse, "KMSMasterKeyId"), key)
			}
			for id, lg := range resources(tpl, "AWS::Logs::LogGroup") {
				if !jsonEqual(get(lg, "Properties", "KmsKeyId"), key) {
					t.Errorf("log group %s key %v, want %v", id, get(lg, "Properties", "KmsKeyId"), key)
				}
			}
			k := get(tpl, "Resources", "KmsKey")
			if (key != nil && name == "hardened") != (k != nil) {
				t.Fatalf("KmsKey created: %v", k != nil)
			}
			if k == nil {
				return
			}
			// The table is retained, so its key must be too; rotation on.
			if get(k, "DeletionPolicy") != "Retain" || get(k, "UpdateReplacePolicy") != "Retain" || get(k, "Properties", "EnableKeyRotation") != true {
				t.Errorf("KmsKey policies %v/%v rotation %v", get(k, "DeletionPolicy"), get(k, "UpdateReplacePolicy"), get(k, "Properties", "EnableKeyRotation"))
			}
			var services []string
			for _, s := range get(k, "Properties", "KeyPolicy", "Statement").([]any) {
				if get(s, "Effect") != "Allow" {
					continue
				}
				if svc, ok := get(s, "Principal", "Service").(string); ok {
					services = append(services, svc)
				}
				if v, ok := get(s, "Condition", "StringEquals", "kms:ViaService").(string); ok {
					services = append(services, "via "+v)
				}
			}
			sort.Strings(services)
			want := []string{"logs." + testRegion + ".amazonaws.com", "via dynamodb." + testRegion + ".amazonaws.com"}
			if !slices.Equal(services, want) {
				t.Errorf("the key policy lets %v use the key, want %v", services, want)
			}
		})
	}
}

func TestTheCustomDomainIsOptionalAndServesThePublicAPI(t *testing.T) {
	t.Parallel()
	tpl := instantiate(t, paramSets["defaults"]).deployed()
	for _, typ := range []string{"AWS::ApiGatewayV2::DomainName", "AWS::ApiGatewayV2::ApiMapping", "AWS::Route53::RecordSet"} {
		if n := len(resources(tpl, typ)); n != 0 {
			t.Errorf("without DomainName the stack has %d %s", n, typ)
		}
	}
	if u := get(tpl, "Outputs", "ApiUrl", "Value"); !jsonEqual(u, "https://${HttpApi}.execute-api.ap-northeast-2.amazonaws.com") {
		t.Errorf("ApiUrl %v", u)
	}
	set := paramSets["hardened"]
	tpl = instantiate(t, set).deployed()
	d := resource(t, tpl, "ApiDomain", "AWS::ApiGatewayV2::DomainName")
	cfg := get(d, "Properties", "DomainNameConfigurations").([]any)[0]
	if get(d, "Properties", "DomainName") != set["DomainName"] || get(cfg, "CertificateArn") != set["CertificateArn"] ||
		get(cfg, "SecurityPolicy") != "TLS_1_2" || get(cfg, "EndpointType") != "REGIONAL" {
		t.Errorf("ApiDomain %v", d)
	}
	m := resource(t, tpl, "ApiDomainMapping", "AWS::ApiGatewayV2::ApiMapping")
	if refs := refsTo(get(m, "Properties"), allIDs(tpl)); !slices.Contains(refs, "HttpApi") || slices.Contains(refs, "CallbackApi") {
		t.Errorf("the domain maps %v, want the public API", refs)
	}
	rec := resource(t, tpl, "ApiDomainRecord", "AWS::Route53::RecordSet")
	if get(rec, "Properties", "HostedZoneId") != set["HostedZoneId"] || get(rec, "Properties", "Type") != "A" ||
		!slices.Equal(refsTo(get(rec, "Properties", "AliasTarget"), allIDs(tpl)), []string{"ApiDomain"}) {
		t.Errorf("alias record %v", rec)
	}
	if u := get(tpl, "Outputs", "ApiUrl", "Value"); u != "https://"+set["DomainName"] {
		t.Errorf("ApiUrl with a domain is %v", u)
	}
}
