package main

import (
	"bufio"
	"cmp"
	"context"
	"flag"
	"fmt"
	"slices"
	"strings"

	"github.com/tossgame/migration-server/shared/store"
)

// defaultSegments is how many parallel segments a scan uses unless told: enough to keep several
// DynamoDB partitions busy, few enough for a laptop (the bench compares 1, 4 and 8).
const defaultSegments = 4

func statsCommand() command {
	return command{
		name: "stats", args: "[--segments N] [--page-size N]",
		summary: "the exact number mapped (one full scan), links per day, unlinks per referrer, the table's size",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			scan := addScanFlags(fs, "")
			return func(ctx context.Context) error {
				if _, err := scan.options("stats", nil); err != nil {
					return err
				}
				adm, info, err := a.admin(ctx)
				if err != nil {
					return err
				}
				bar := newProgress(a.sys.stderrTerminal, a.sys.stderr, "scanning", info.ItemCount, false)
				opt, _ := scan.options("stats", bar.Add)
				c, err := adm.Count(ctx, opt)
				bar.Finish()
				if err != nil {
					return err
				}
				r := newStatsResult(info, c)
				if a.g.json {
					return printJSON(a.sys.stdout, r)
				}
				return r.print(a)
			}
		},
	}
}

type dayCount struct {
	Day   string `json:"day"`
	Links int64  `json:"links"`
}

type statsResult struct {
	Table string `json:"table"`
	// Mapped is exact: the h# items one strongly consistent scan found.
	Mapped      int64 `json:"mapped"`
	LinkedUsers int64 `json:"linkedUsers"`
	// LinksPerDay counts today's mappings by the UTC day they were linked (or moved); mappings
	// that were unlinked since are not in it.
	LinksPerDay []dayCount `json:"linksPerDay"`
	// UnlinksPerReferrer counts the unlink tombstones still in the table (each lives its TTL).
	UnlinksPerReferrer map[string]int64 `json:"unlinksPerReferrer"`
	NeverLinkedUnlinks int64            `json:"neverLinkedUnlinks"`
	Removed            int64            `json:"removedByOperator"`
	ScannedItems       int64            `json:"scannedItems"`
	UnknownItems       int64            `json:"unknownItems"`
	// TableSize is DescribeTable's estimate, refreshed by DynamoDB about every six hours.
	TableSize tableSize `json:"tableSize"`
}

type tableSize struct {
	Items int64  `json:"items"`
	Bytes int64  `json:"bytes"`
	Note  string `json:"note"`
}

func newStatsResult(info store.TableInfo, c store.Counts) statsResult {
	r := statsResult{
		Table: info.Name, Mapped: c.Mapped, LinkedUsers: c.LinkedUsers, UnlinksPerReferrer: c.UnlinksPerReferrer,
		NeverLinkedUnlinks: c.NeverLinkedUnlinks, Removed: c.Removed, ScannedItems: c.Items, UnknownItems: c.Other,
		LinksPerDay: []dayCount{},
		TableSize:   tableSize{Items: info.ItemCount, Bytes: info.SizeBytes, Note: "DescribeTable's estimate, refreshed about every 6 hours"},
	}
	for day, n := range c.LinksPerDay {
		r.LinksPerDay = append(r.LinksPerDay, dayCount{day, n})
	}
	slices.SortFunc(r.LinksPerDay, func(x, y dayCount) int { return cmp.Compare(x.Day, y.Day) })
	return r
}

func (r statsResult) print(a *app) error {
	w := bufio.NewWriter(a.sys.stdout)
	line := func(label, value, note string) {
		s := fmt.Sprintf("%-26s %12s  %s", label, value, note)
		fmt.Fprintln(w, strings.TrimRight(s, " "))
	}
	fmt.Fprintf(w, "%-26s %s\n", "table", r.Table)
	line("mapped", group(r.Mapped), "exact: one consistent scan of "+group(r.ScannedItems)+" items")
	if r.LinkedUsers != r.Mapped {
		line("PROBLEM: linked users", group(r.LinkedUsers), "differs from mapped: the table holds half mappings")
	}
	fmt.Fprintln(w, "links per day (UTC; mappings held now, by the day they were linked or moved)")
	if len(r.LinksPerDay) == 0 {
		line("  none", "", "")
	}
	for _, d := range r.LinksPerDay {
		line("  "+d.Day, group(d.Links), "")
	}
	fmt.Fprintln(w, "unlinks per referrer (tombstones still in the table)")
	refs := make([]string, 0, len(r.UnlinksPerReferrer))
	for k := range r.UnlinksPerReferrer {
		refs = append(refs, k)
	}
	slices.Sort(refs)
	if len(refs) == 0 {
		line("  none", "", "")
	}
	for _, k := range refs {
		line("  "+k, group(r.UnlinksPerReferrer[k]), "")
	}
	if r.NeverLinkedUnlinks > 0 {
		line("  of which never linked", group(r.NeverLinkedUnlinks), "")
	}
	line("removed by an operator", group(r.Removed), "markers still in the table")
	if r.UnknownItems > 0 {
		line("unknown items", group(r.UnknownItems), "")
	}
	line("table size (items)", group(r.TableSize.Items), r.TableSize.Note)
	line("table size (bytes)", group(r.TableSize.Bytes), "")
	return w.Flush()
}

// scanFlags are the flags of every command that scans.
type scanFlags struct{ segments, pageSize *int }

// defaultPageSize is how many items one scan call reads: 1 MB pages (DynamoDB's default) cost
// several times the memory and, on DynamoDB Local, several times the time (docs/migrationctl.md).
const defaultPageSize = 1000

func addScanFlags(fs *flag.FlagSet, what string) scanFlags {
	return scanFlags{
		segments: fs.Int("segments", defaultSegments, "parallel scan segments"+what+" (1-64)"),
		pageSize: fs.Int("page-size", defaultPageSize, "items per scan call (0: DynamoDB's 1 MB pages)"),
	}
}

func (f scanFlags) options(cmd string, progress func(int)) (store.ScanOptions, error) {
	if *f.segments < 1 || *f.segments > store.MaxSegments {
		return store.ScanOptions{}, usagef("%s: --segments must be 1 to %d", cmd, store.MaxSegments)
	}
	if *f.pageSize < 0 || *f.pageSize > 1_000_000 {
		return store.ScanOptions{}, usagef("%s: --page-size must be 0 to 1000000", cmd)
	}
	return store.ScanOptions{Segments: *f.segments, PageSize: *f.pageSize, Consistent: true, Progress: progress}, nil
}
