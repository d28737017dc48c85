package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/seed"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/store"
)

var (
	mar1 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	mar2 = mar1.Add(24 * time.Hour)
)

// fixture is a table with one item of every shape §10 knows.
func fixture(t *testing.T) *env {
	e := newEnv(t)
	var items []seed.Item
	items = append(items, seed.Linked("hash-a", 443731104, mar1, map[string]string{"name": "홍길동", "birthday": "19930324"})...)
	items = append(items, seed.Linked("hash-b", 443731105, mar2, nil)...)
	items = append(items, seed.LegacyLinked("hash-old", 443731106, mar2)...)
	items = append(items,
		seed.Unlinked(443731107, "hash-gone", "UNLINK", mar2),
		seed.Unlinked(443731108, "", "WITHDRAWAL_TERMS", mar2),
		seed.Removed(443731109, "squatted", "arn:aws:iam::123456789012:user/op", "squatting", mar2))
	e.seed(items...)
	return e
}

func TestLookupShowsTheMappingByHashOrUserKeyAndTheProfileOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	mappedA := map[string]any{"mapped": true, "hash": "hash-a", "userKey": "443731104", "linkedAt": seed.Stamp(mar1)}
	withProfile := map[string]any{"mapped": true, "hash": "hash-a", "userKey": "443731104", "linkedAt": seed.Stamp(mar1),
		"profile": map[string]any{"name": "홍길동", "birthday": "19930324"}}
	tests := []struct {
		name string
		args []string
		want map[string]any
	}{
		{"by hash", []string{"lookup", "--hash", "hash-a"}, mappedA},
		{"by userKey", []string{"lookup", "--user-key", "443731104"}, mappedA},
		{"with --show-profile", []string{"lookup", "--hash", "hash-a", "--show-profile"}, withProfile},
		{"a mapping written before u# items had a state", []string{"lookup", "--user-key", "443731106"},
			map[string]any{"mapped": true, "hash": "hash-old", "userKey": "443731106", "linkedAt": mar2.Format(time.RFC3339)}},
		{"an unmapped hash", []string{"lookup", "--hash", "nobody"}, map[string]any{"mapped": false, "hash": "nobody"}},
		{"an unknown userKey", []string{"lookup", "--user-key", "1"}, map[string]any{"mapped": false, "userKey": "1"}},
		{"an unlinked user (tombstone)", []string{"lookup", "--user-key", "443731107"},
			map[string]any{"mapped": false, "userKey": "443731107", "hash": "hash-gone", "state": "unlinked", "referrer": "UNLINK", "at": seed.Stamp(mar2)}},
		{"a user an operator removed", []string{"lookup", "--user-key", "443731109"},
			map[string]any{"mapped": false, "userKey": "443731109", "hash": "squatted", "state": "removed", "at": seed.Stamp(mar2),
				"operator": "arn:aws:iam::123456789012:user/op", "reason": "squatting"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := e.okJSON(append([]string{"--local"}, tt.args...)...)
			if !reflect.DeepEqual(got, any(tt.want)) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}

	text := e.ok("", "--local", "lookup", "--hash", "hash-a")
	for _, want := range []string{"hash hash-a", "userKey 443731104", "linkedAt " + seed.Stamp(mar1)} {
		if !hasLine(text, want) {
			t.Errorf("text output %q lacks %q", text, want)
		}
	}
	if strings.Contains(text, "홍길동") || strings.Contains(e.ok("", "--local", "--json", "lookup", "--user-key", "443731104"), "홍길동") {
		t.Error("a profile field was printed without --show-profile")
	}
	if text := e.ok("", "--local", "lookup", "--hash", "hash-a", "--show-profile"); !hasLine(text, "profile.name 홍길동") {
		t.Errorf("--show-profile text output %q lacks the name", text)
	}
}

func TestLookupNamesAHalfMapping(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.seed(seed.Linked("half", 5, mar1, nil)[0], seed.Linked("elsewhere", 5, mar1, nil)[1])
	got := e.okJSON("--local", "lookup", "--hash", "half")
	if p, _ := get(got, "problem").(string); !strings.Contains(p, "does not point back") {
		t.Fatalf("lookup of a half mapping: %v", got)
	}
}

func TestStatsCountsEveryMappingExactlyWithLinksPerDayAndUnlinksPerReferrer(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	var items []seed.Item
	for i := range 130 {
		items = append(items, seed.Linked(fmt.Sprintf("bulk-%d", i), int64(9000+i), mar1.Add(time.Duration(i%3)*24*time.Hour), nil)...)
	}
	e.seed(items...)
	got := e.okJSON("--local", "stats", "--segments", "3")
	delete(got.(map[string]any), "tableSize") // DescribeTable's estimate: checked in the text below
	// 130 bulk mappings over three days (44, 43, 43), hash-a on the first, hash-b and hash-old on the second.
	want := map[string]any{
		"table": e.table, "mapped": 133.0, "linkedUsers": 133.0,
		"linksPerDay": []any{
			map[string]any{"day": "2026-03-01", "links": 45.0},
			map[string]any{"day": "2026-03-02", "links": 45.0},
			map[string]any{"day": "2026-03-03", "links": 43.0},
		},
		"unlinksPerReferrer": map[string]any{"UNLINK": 1.0, "WITHDRAWAL_TERMS": 1.0},
		"neverLinkedUnlinks": 1.0, "removedByOperator": 1.0, "scannedItems": 2*133.0 + 3, "unknownItems": 0.0,
	}
	if !reflect.DeepEqual(got, any(want)) {
		t.Fatalf("stats\n got %v\nwant %v", got, want)
	}
	text := e.ok("", "--local", "stats")
	for _, line := range []string{"mapped 133 exact:", "2026-03-02 45", "UNLINK 1", "WITHDRAWAL_TERMS 1", "of which never linked 1",
		"removed by an operator 1", "table size (items) 269"} {
		if !hasLine(text, line) {
			t.Errorf("stats text lacks %q:\n%s", line, text)
		}
	}
}

func TestExportStreamsEveryMappingOnceAsJSONLinesOrCSV(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	want := map[string]exportRow{
		"hash-a":   {"hash-a", "443731104", seed.Stamp(mar1), nil},
		"hash-b":   {"hash-b", "443731105", seed.Stamp(mar2), nil},
		"hash-old": {"hash-old", "443731106", mar2.Format(time.RFC3339), nil},
	}
	for _, segments := range []string{"1", "4"} {
		out := e.ok("", "--local", "export", "--segments", segments)
		got := map[string]exportRow{}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			var r exportRow
			if err := json.Unmarshal([]byte(line), &r); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
			if _, dup := got[r.Hash]; dup {
				t.Fatalf("%s exported twice", r.Hash)
			}
			got[r.Hash] = r
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("export with %s segments:\n%v\nwant %v", segments, got, want)
		}
		if strings.Contains(out, "홍길동") {
			t.Fatal("export printed a profile field without --show-profile")
		}
	}

	rows, err := csv.NewReader(strings.NewReader(e.ok("", "--local", "export", "--format", "csv", "--show-profile"))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"hash", "userKey", "linkedAt", "name", "phone", "birthday", "ci", "gender", "nationality", "email"}; !slices.Equal(rows[0], want) {
		t.Fatalf("csv header %v, want %v", rows[0], want)
	}
	slices.SortFunc(rows[1:], func(a, b []string) int { return strings.Compare(a[0], b[0]) })
	if len(rows) != 4 || !slices.Equal(rows[1], []string{"hash-a", "443731104", seed.Stamp(mar1), "홍길동", "", "19930324", "", "", "", ""}) {
		t.Fatalf("csv rows %v", rows)
	}

	// --out replaces the file only once the export is complete.
	path := filepath.Join(t.TempDir(), "mappings.jsonl")
	if out := e.ok("", "--local", "export", "--out", path); out != "" {
		t.Fatalf("--out also printed %q", out)
	}
	if b, err := os.ReadFile(path); err != nil || strings.Count(string(b), "\n") != 3 {
		t.Fatalf("--out file: %q %v", b, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left beside the export: %v", entries)
	}
}

func TestCoverageCountsTheMappedLegacyUsersAndListsTheOthersInTheirOrder(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	list := strings.Join([]string{
		"443731107", // unlinked: not mapped
		"443731104", // mapped
		"",          // blank lines are skipped
		"  443731105  ",
		"12345",     // never heard of
		"443731104", // duplicate
		"443731106", // mapped, written before states
		"443731109", // removed by an operator
	}, "\n") + "\n"
	path := filepath.Join(t.TempDir(), "legacy.txt")
	if err := os.WriteFile(path, []byte(list), 0o600); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"users": 6.0, "mapped": 3.0, "unmapped": 3.0, "coverage": 0.5, "duplicateLines": 1.0,
		"unmappedUserKeys": []any{"443731107", "12345", "443731109"}}
	for _, method := range []string{"batch", "scan", "auto"} {
		t.Run(method, func(t *testing.T) {
			var out string
			if method == "scan" {
				out = e.ok(list, "--local", "--json", "coverage", "--user-keys", "-", "--method", method)
			} else {
				out = e.ok("", "--local", "--json", "coverage", "--user-keys", path, "--method", method)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			if m := got["method"]; (method != "auto" && m != method) || (m != "batch" && m != "scan") {
				t.Errorf("method %v", m)
			}
			delete(got, "method")
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("coverage\n got %v\nwant %v", got, want)
			}
		})
	}
	text := e.ok("", "--local", "coverage", "--user-keys", path)
	for _, line := range []string{"legacy users 6", "mapped 3 50.0 %", "unmapped 3 50.0 %", "duplicate lines 1", "read by"} {
		if !hasLine(text, line) {
			t.Errorf("coverage text lacks %q:\n%s", line, text)
		}
	}
	if !strings.HasSuffix(text, "unmapped userKeys (in the list's order):\n443731107\n12345\n443731109\n") {
		t.Errorf("coverage text does not end with the unmapped userKeys:\n%s", text)
	}
	if text := e.ok("", "--local", "coverage", "--user-keys", path, "--summary"); strings.Contains(text, "12345") {
		t.Errorf("--summary listed the unmapped: %s", text)
	}
}

func TestCoverageChoosesBatchedReadsForAShortListAndAScanForALongOne(t *testing.T) {
	tests := []struct {
		users     int
		itemCount int64
		want      string
	}{
		{100, 1_000_000, "batch"},
		{1_000_000, 200_000, "scan"},
		{10, 0, "scan"}, // a new table's estimate is 0: the scan is instant
	}
	for _, tt := range tests {
		if got := chooseMethod(tt.users, tt.itemCount); got != tt.want {
			t.Errorf("chooseMethod(%d users, %d items) = %s, want %s", tt.users, tt.itemCount, got, tt.want)
		}
	}
}

func TestScansDrawAProgressBarOnlyOnATerminal(t *testing.T) {
	t.Parallel()
	e := fixture(t)
	for _, args := range [][]string{{"stats"}, {"export"}, {"coverage", "--user-keys", "-", "--method", "scan"}} {
		e.terminal = false
		if r := e.ctl("443731104\n", append([]string{"--local"}, args...)...); r.code != 0 || r.stderr != "" {
			t.Errorf("%v without a terminal: exit %d, stderr %q (want nothing)", args, r.code, r.stderr)
		}
		e.terminal = true
		if r := e.ctl("443731104\n", append([]string{"--local"}, args...)...); r.code != 0 || !strings.Contains(r.stderr, "\r\033[K") {
			t.Errorf("%v on a terminal: exit %d, stderr %q (want the bar's line drawn and cleared)", args, r.code, r.stderr)
		}
	}
}

func TestTheHashBoundIsThePartnerAPIs(t *testing.T) {
	if store.MaxHashLen != httpapi.MaxHashLen {
		t.Fatalf("store.MaxHashLen %d, httpapi.MaxHashLen %d: a hash the API stores must be one the CLI accepts", store.MaxHashLen, httpapi.MaxHashLen)
	}
}

// hasLine reports whether a line of text starts with want, however either is spaced.
func hasLine(text, want string) bool {
	w := strings.Join(strings.Fields(want), " ")
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(strings.Join(strings.Fields(line), " "), w) {
			return true
		}
	}
	return false
}
