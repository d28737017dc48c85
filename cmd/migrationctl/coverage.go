package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tossgame/migration-server/shared/store"
)

// scanPerBatchedKey is how many table items a scan reads in the time a batched read settles one
// userKey: 4.6 in the bench on DynamoDB Local (bench/migrationctl.md; 20.6 µs a key in batches of
// 100, 8 at once, against 4.4 µs an item scanning 1,000-item pages in 4 segments). On DynamoDB
// a batched read waits a network round trip per 100 keys, and a scan page carries many more items
// per round trip, so we expect no lower a ratio there (not measured: no DynamoDB here).
const scanPerBatchedKey = 4

func coverageCommand() command {
	return command{
		name: "coverage", args: "--user-keys FILE|- [--method auto|batch|scan]",
		summary: "how many of the studio's legacy userKeys (one a line) are mapped, and which are not",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			file := fs.String("user-keys", "", "`file` of legacy userKeys, one per line (- reads stdin)")
			method := fs.String("method", "auto", "batch (BatchGetItem of each userKey), scan (the whole table), or auto: whichever reads less")
			scan := addScanFlags(fs, " for --method scan")
			workers := fs.Int("workers", 8, "concurrent BatchGetItem calls for --method batch (1-64)")
			summary := fs.Bool("summary", false, "print the counts only, not the unmapped userKeys")
			return func(ctx context.Context) error {
				if *file == "" {
					return usagef("coverage: --user-keys FILE is required (- for stdin)")
				}
				if *method != "auto" && *method != "batch" && *method != "scan" {
					return usagef("coverage: --method is auto, batch or scan, not %q", *method)
				}
				if _, err := scan.options("coverage", nil); err != nil {
					return err
				}
				if *workers < 1 || *workers > 64 {
					return usagef("coverage: --workers must be 1 to 64")
				}
				// The whole list is read and checked before the table is touched: a bad line is
				// reported alone, never after half a report.
				list, err := readUserKeys(a.sys.stdin, *file)
				if err != nil {
					return err
				}
				adm, info, err := a.admin(ctx)
				if err != nil {
					return err
				}
				m := *method
				if m == "auto" {
					m = chooseMethod(len(list.distinct), info.ItemCount)
				}
				mapped := make([]bool, len(list.distinct))
				mark := func(u store.User) error {
					if i, ok := slices.BinarySearch(list.distinct, u.UserKey); ok && u.Linked() {
						mapped[i] = true
					}
					return nil
				}
				if m == "batch" {
					bar := newProgress(a.sys.stderrTerminal, a.sys.stderr, "reading", int64(len(list.distinct)), true)
					err = adm.Users(ctx, list.distinct, *workers, mark, bar.Add)
					bar.Finish()
				} else {
					bar := newProgress(a.sys.stderrTerminal, a.sys.stderr, "scanning", info.ItemCount, false)
					opt, _ := scan.options("coverage", bar.Add)
					err = adm.ScanUsers(ctx, opt, mark)
					bar.Finish()
				}
				if err != nil {
					return err
				}
				r := list.result(mapped, m, !*summary)
				if a.g.json {
					return printJSON(a.sys.stdout, r)
				}
				return r.print(a)
			}
		},
	}
}

// chooseMethod picks the read that finishes first: a batched read costs about as much as
// scanning scanPerBatchedKey items, and the table holds about itemCount items (DescribeTable's
// estimate; 0 for a new table, which a scan reads at once).
func chooseMethod(users int, itemCount int64) string {
	if int64(users)*scanPerBatchedKey < itemCount {
		return "batch"
	}
	return "scan"
}

// legacyList is the studio's list: the userKeys in file order (to list the unmapped ones in
// that order) and sorted without duplicates (to look them up).
type legacyList struct {
	order    []int64
	distinct []int64
}

// maxLine bounds one line of the list: a userKey is at most 19 digits.
const maxLine = 4096

func readUserKeys(stdin io.Reader, file string) (legacyList, error) {
	r, name := stdin, "stdin"
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return legacyList{}, fmt.Errorf("coverage: %w", err)
		}
		defer f.Close()
		r, name = f, file
	}
	var l legacyList
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue // blank lines (a trailing newline, a spreadsheet's empty rows) carry nothing
		}
		uk, err := parseUserKey(text)
		if err != nil {
			return legacyList{}, fmt.Errorf("coverage: %s line %d: %v; nothing was read from the table", name, line, err)
		}
		l.order = append(l.order, uk)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return legacyList{}, fmt.Errorf("coverage: %s line %d: longer than %d bytes; nothing was read from the table", name, line+1, maxLine)
		}
		return legacyList{}, fmt.Errorf("coverage: reading %s: %w", name, err)
	}
	if len(l.order) == 0 {
		return legacyList{}, fmt.Errorf("coverage: %s holds no userKeys", name)
	}
	l.distinct = slices.Clone(l.order)
	slices.Sort(l.distinct)
	l.distinct = slices.Compact(l.distinct)
	return l, nil
}

type coverageResult struct {
	Users      int64   `json:"users"` // distinct userKeys in the list
	Mapped     int64   `json:"mapped"`
	Unmapped   int64   `json:"unmapped"`
	Coverage   float64 `json:"coverage"` // mapped / users
	Duplicates int64   `json:"duplicateLines"`
	Method     string  `json:"method"`
	// UnmappedUserKeys in the list's order (omitted with --summary).
	UnmappedUserKeys []string `json:"unmappedUserKeys,omitempty"`
}

func (l legacyList) result(mapped []bool, method string, list bool) coverageResult {
	r := coverageResult{Users: int64(len(l.distinct)), Duplicates: int64(len(l.order) - len(l.distinct)), Method: method}
	for _, m := range mapped {
		if m {
			r.Mapped++
		}
	}
	r.Unmapped = r.Users - r.Mapped
	r.Coverage = float64(r.Mapped) / float64(r.Users)
	if list {
		r.UnmappedUserKeys = make([]string, 0, r.Unmapped)
		listed := make([]bool, len(l.distinct))
		for _, uk := range l.order {
			i, _ := slices.BinarySearch(l.distinct, uk)
			if !mapped[i] && !listed[i] {
				listed[i] = true
				r.UnmappedUserKeys = append(r.UnmappedUserKeys, strconv.FormatInt(uk, 10))
			}
		}
	}
	return r
}

func (r coverageResult) print(a *app) error {
	w := bufio.NewWriter(a.sys.stdout)
	fmt.Fprintf(w, "%-16s %12s\n", "legacy users", group(r.Users))
	fmt.Fprintf(w, "%-16s %12s  %s\n", "mapped", group(r.Mapped), percent(r.Mapped, r.Users))
	fmt.Fprintf(w, "%-16s %12s  %s\n", "unmapped", group(r.Unmapped), percent(r.Unmapped, r.Users))
	if r.Duplicates > 0 {
		fmt.Fprintf(w, "%-16s %12s  (each userKey counted once)\n", "duplicate lines", group(r.Duplicates))
	}
	fmt.Fprintf(w, "%-16s %12s\n", "read by", r.Method)
	if len(r.UnmappedUserKeys) > 0 {
		fmt.Fprintln(w, "unmapped userKeys (in the list's order):")
		for _, k := range r.UnmappedUserKeys {
			fmt.Fprintln(w, k)
		}
	}
	return w.Flush()
}
