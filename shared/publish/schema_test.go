package publish

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

// Every detail the code produces is valid against docs/events.schema.json, checked by a real
// JSON Schema validator (Python's jsonschema, which cfn-lint brings); and details that break the
// schema are refused, so the check can fail.
func TestEveryDetailMatchesTheSchemaAndTheSchemaRefusesTheWrongOnes(t *testing.T) {
	t.Parallel()
	move := img{"pk": S("u#7"), "state": S("linked"), "hash": S("h-new"), "linkedAt": S(t2), "operator": S("op"), "reason": S("r")}
	removal := img{"pk": S("u#7"), "state": S("removed"), "removedHash": S("h"), "operator": S("op"), "reason": S("r"), "at": S(t2)}
	var good []events.DynamoDBEventRecord
	good = append(good,
		record("e1", "1", "INSERT", "u#443731104", linked("u#443731104", "h-1", t1), nil),
		record("e2", "12345678901234567890123456789012345678", "MODIFY", "u#7", tomb("u#7", "h-1", "WITHDRAWAL_TOSS", t2), linked("u#7", "h-1", t1)),
		record("e3", "3", "INSERT", "u#0", tomb("u#0", "", "UNLINK", t1), nil),
		record("e4", "4", "INSERT", "u#9", tomb("u#9", "", "", t1), nil),
		record("e5", "5", "MODIFY", "u#7", move, linked("u#7", "h-old", t1)),
		record("e6", "6", "MODIFY", "u#7", removal, linked("u#7", "h", t1)),
	)
	type line struct {
		Type   string          `json:"type"`
		Detail json.RawMessage `json:"detail"`
	}
	var in []line
	seen := map[string]bool{}
	for _, r := range good {
		ev, err := FromRecord(r)
		if err != nil || ev == nil {
			t.Fatalf("%s: %v %v", r.EventID, ev, err)
		}
		b, _ := json.Marshal(ev.Detail)
		in = append(in, line{ev.DetailType, b})
		seen[ev.DetailType] = true
	}
	if len(seen) != 4 {
		t.Fatalf("the good cases cover %d detail types, want all 4", len(seen))
	}
	bad := []line{
		{UserLinked, json.RawMessage(`{"eventId":"e","sequence":"1","userKey":7,"hash":"h","linkedAt":"` + t1 + `"}`)},                // a numeric userKey
		{UserLinked, json.RawMessage(`{"eventId":"e","sequence":"1","userKey":"7","hash":"h","linkedAt":"2026-12-01T10:00:00Z"}`)},    // a short time
		{UserLinked, json.RawMessage(`{"eventId":"e","sequence":"1","userKey":"7","hash":"h","linkedAt":"` + t1 + `","name":"x"}`)},   // a profile field
		{UserUnlinked, json.RawMessage(`{"eventId":"e","sequence":"1","userKey":"7","referrer":"UNLINK","unlinkedAt":"` + t1 + `"}`)}, // hash missing, not null
		{MappingRemoved, json.RawMessage(`{"eventId":"e","sequence":"x1","userKey":"7","hash":"h","operator":"o","reason":"r","at":"` + t1 + `"}`)},
	}
	got := validate(t, append(in, bad...))
	for i, res := range got {
		if i < len(in) && !res.OK {
			t.Errorf("%s %s is invalid: %s", in[i].Type, in[i].Detail, res.Error)
		}
		if i >= len(in) && res.OK {
			t.Errorf("the schema accepts %s %s", bad[i-len(in)].Type, bad[i-len(in)].Detail)
		}
	}
}

type result struct {
	OK    bool   `json:"ok"`
	Error string `json:"error"`
}

func validate[T any](t *testing.T, lines []T) []result {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Fatal("python3 is not on PATH; install Python 3 and `pip install cfn-lint` (it brings jsonschema)")
	}
	var stdin, stdout, stderr bytes.Buffer
	enc := json.NewEncoder(&stdin)
	for _, l := range lines {
		enc.Encode(l)
	}
	cmd := exec.Command(py, filepath.Join("testdata", "validate.py"), filepath.Join("..", "..", "docs", "events.schema.json"))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = &stdin, &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("validate.py: %v\n%s(pip install cfn-lint brings jsonschema)", err, stderr.String())
	}
	var out []result
	for _, l := range strings.Split(strings.TrimSpace(stdout.String()), "\n") {
		var r result
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("validate.py printed %q", l)
		}
		out = append(out, r)
	}
	if len(out) != len(lines) {
		t.Fatalf("validate.py answered %d of %d", len(out), len(lines))
	}
	return out
}
