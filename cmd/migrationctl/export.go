package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/tossgame/migration-server/shared/store"
	"github.com/tossgame/migration-server/shared/toss"
)

func exportCommand() command {
	return command{
		name: "export", args: "[--format jsonl|csv] [--out FILE] [--segments N] [--page-size N] [--show-profile]",
		summary: "every mapping (hash, userKey, linkedAt), streamed in constant memory from a parallel scan",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			format := fs.String("format", "jsonl", "jsonl (one JSON object a line) or csv (with a header row)")
			out := fs.String("out", "", "write to `file` (replaced only when the export is complete) instead of stdout")
			scan := addScanFlags(fs, "")
			showProfile := fs.Bool("show-profile", false, "add the kept profile fields (decrypted personal data)")
			return func(ctx context.Context) error {
				if *format != "jsonl" && *format != "csv" {
					return usagef("export: --format is jsonl or csv, not %q", *format)
				}
				if _, err := scan.options("export", nil); err != nil {
					return err
				}
				adm, info, err := a.admin(ctx)
				if err != nil {
					return err
				}
				dst, commit, abort, err := output(a.sys.stdout, *out)
				if err != nil {
					return err
				}
				bar := newProgress(a.sys.stderrTerminal, a.sys.stderr, "exporting", info.ItemCount, false)
				opt, _ := scan.options("export", bar.Add)
				n, err := export(ctx, adm, dst, *format, opt, *showProfile)
				bar.Finish()
				if err != nil {
					abort()
					return fmt.Errorf("export stopped after %s mappings (the output is incomplete): %w", group(n), err)
				}
				if err := commit(); err != nil {
					return err
				}
				if a.sys.stderrTerminal && !a.g.json {
					fmt.Fprintf(a.sys.stderr, "exported %s mappings\n", group(n))
				}
				return nil
			}
		},
	}
}

// output is stdout, or a temporary file beside path that replaces path only on commit: a failed
// export leaves no half file behind.
func output(stdout io.Writer, path string) (w io.Writer, commit func() error, abort func(), err error) {
	if path == "" {
		return stdout, func() error { return nil }, func() {}, nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.part")
	if err != nil {
		return nil, nil, nil, fmt.Errorf("export: %w", err)
	}
	commit = func() error {
		if err := tmp.Close(); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("export: %w", err)
		}
		if err := os.Rename(tmp.Name(), path); err != nil {
			os.Remove(tmp.Name())
			return fmt.Errorf("export: %w", err)
		}
		return nil
	}
	abort = func() { tmp.Close(); os.Remove(tmp.Name()) }
	return tmp, commit, abort, nil
}

// exportRow is one JSON line; userKey is a decimal string, as in events.
type exportRow struct {
	Hash     string            `json:"hash"`
	UserKey  string            `json:"userKey"`
	LinkedAt string            `json:"linkedAt"`
	Profile  map[string]string `json:"profile,omitempty"`
}

// export writes every mapping to w and returns how many it wrote. Rows leave through one
// buffered writer as pages arrive, so memory does not grow with the table.
func export(ctx context.Context, adm *store.Admin, w io.Writer, format string, opt store.ScanOptions, withProfile bool) (int64, error) {
	bw := bufio.NewWriterSize(w, 256<<10)
	var write func(store.Mapping) error
	var cw *csv.Writer
	if format == "csv" {
		cw = csv.NewWriter(bw)
		header := []string{"hash", "userKey", "linkedAt"}
		if withProfile {
			header = append(header, toss.EncryptedFields...)
		}
		if err := cw.Write(header); err != nil {
			return 0, err
		}
		row := make([]string, len(header))
		write = func(m store.Mapping) error {
			row[0], row[1], row[2] = m.Hash, strconv.FormatInt(m.UserKey, 10), m.LinkedAt
			if withProfile {
				for i, f := range toss.EncryptedFields {
					row[3+i] = m.Profile[f]
				}
			}
			return cw.Write(row)
		}
	} else {
		enc := json.NewEncoder(bw)
		enc.SetEscapeHTML(false)
		write = func(m store.Mapping) error {
			return enc.Encode(exportRow{m.Hash, strconv.FormatInt(m.UserKey, 10), m.LinkedAt, m.Profile})
		}
	}
	var n int64
	err := adm.ScanMappings(ctx, opt, withProfile,
		func(m store.Mapping) error {
			n++
			return write(m)
		})
	if err != nil {
		return n, err
	}
	if cw != nil {
		cw.Flush()
		if err := cw.Error(); err != nil {
			return n, err
		}
	}
	return n, bw.Flush()
}
