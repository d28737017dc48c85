package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strconv"
	"text/tabwriter"

	"github.com/tossgame/migration-server/shared/store"
)

func lookupCommand() command {
	return command{
		name: "lookup", args: "--hash H | --user-key K [--show-profile]",
		summary: "show one mapping (userKey, hash, linkedAt), found by hash or by userKey",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			hash := fs.String("hash", "", "the game login `hash`")
			userKey := fs.String("user-key", "", "the Toss `userKey`")
			showProfile := fs.Bool("show-profile", false, "also print the kept profile fields (decrypted personal data)")
			return func(ctx context.Context) error {
				if (*hash == "") == (*userKey == "") {
					return usagef("lookup: give exactly one of --hash or --user-key")
				}
				var uk int64
				if *userKey != "" {
					var err error
					if uk, err = parseUserKey(*userKey); err != nil {
						return usagef("lookup: --user-key: %v", err)
					}
				} else if err := checkHash(*hash); err != nil {
					return usagef("lookup: --hash: %v", explain(err))
				}
				adm, _, err := a.admin(ctx)
				if err != nil {
					return err
				}
				var r lookupResult
				if *userKey != "" {
					r, err = lookupUser(ctx, adm, uk)
				} else {
					r, err = lookupHash(ctx, adm, *hash)
				}
				if err != nil {
					return err
				}
				if !*showProfile {
					r.Profile = nil
				}
				if a.g.json {
					return printJSON(a.sys.stdout, r)
				}
				return r.print(a)
			}
		},
	}
}

// lookupResult is what lookup prints; userKey is a decimal string, as in events.
type lookupResult struct {
	Mapped       bool              `json:"mapped"`
	Hash         string            `json:"hash,omitempty"`
	UserKey      string            `json:"userKey,omitempty"`
	LinkedAt     string            `json:"linkedAt,omitempty"`
	Profile      map[string]string `json:"profile,omitempty"`
	PreviousHash string            `json:"previousHash,omitempty"`
	Operator     string            `json:"operator,omitempty"`
	Reason       string            `json:"reason,omitempty"`
	// Not mapped: what the table still knows of the user (a tombstone or marker within its TTL).
	State    string `json:"state,omitempty"`
	Referrer string `json:"referrer,omitempty"`
	At       string `json:"at,omitempty"`
	// Problem names a disagreement between the hash's item and the user's item.
	Problem string `json:"problem,omitempty"`
}

func lookupHash(ctx context.Context, adm *store.Admin, hash string) (lookupResult, error) {
	m, err := adm.ByHash(ctx, hash)
	if err != nil || m == nil {
		return lookupResult{Hash: hash}, err
	}
	r := lookupResult{Mapped: true, Hash: m.Hash, UserKey: strconv.FormatInt(m.UserKey, 10), LinkedAt: m.LinkedAt, Profile: m.Profile}
	u, err := adm.ByUserKey(ctx, m.UserKey)
	if err != nil {
		return r, err
	}
	if !u.Linked() || u.Hash != hash {
		r.Problem = "the user's item (u#" + r.UserKey + ") does not point back at this hash"
	} else {
		r.PreviousHash, r.Operator, r.Reason = u.PreviousHash, u.Operator, u.Reason
	}
	return r, nil
}

func lookupUser(ctx context.Context, adm *store.Admin, userKey int64) (lookupResult, error) {
	r := lookupResult{UserKey: strconv.FormatInt(userKey, 10)}
	u, err := adm.ByUserKey(ctx, userKey)
	if err != nil || u == nil {
		return r, err
	}
	if !u.Linked() {
		r.State, r.Referrer, r.At, r.Operator, r.Reason = u.State, u.Referrer, u.At, u.Operator, u.Reason
		r.Hash = u.UnlinkedHash + u.RemovedHash // the hash it had, if any (one of the two is set)
		return r, nil
	}
	r.Mapped, r.Hash, r.LinkedAt = true, u.Hash, u.LinkedAt
	r.PreviousHash, r.Operator, r.Reason = u.PreviousHash, u.Operator, u.Reason
	m, err := adm.ByHash(ctx, u.Hash)
	if err != nil {
		return r, err
	}
	if m == nil || m.UserKey != userKey {
		r.Problem = "the hash's item (h#" + u.Hash + ") is missing or names another user"
		return r, nil
	}
	r.LinkedAt, r.Profile = m.LinkedAt, m.Profile
	return r, nil
}

func (r lookupResult) print(a *app) error {
	w := tabwriter.NewWriter(a.sys.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(w, "%s\t%s\n", k, v)
		}
	}
	switch {
	case r.Mapped:
		row("hash", r.Hash)
		row("userKey", r.UserKey)
		row("linkedAt", r.LinkedAt)
		row("previousHash", r.PreviousHash)
		row("operator", r.Operator)
		row("reason", r.Reason)
		keys := make([]string, 0, len(r.Profile))
		for k := range r.Profile {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			row("profile."+k, r.Profile[k])
		}
	case r.UserKey == "":
		fmt.Fprintf(w, "hash %q is not mapped\n", r.Hash)
	case r.State == "":
		fmt.Fprintf(w, "userKey %s is not mapped (no item: never linked, or unlinked longer ago than the tombstone lives)\n", r.UserKey)
	case r.State == store.StateUnlinked:
		fmt.Fprintf(w, "userKey %s is not mapped: unlinked at %s (referrer %s)\n", r.UserKey, r.At, r.Referrer)
		row("unlinkedHash", r.Hash)
	case r.State == store.StateRemoved:
		fmt.Fprintf(w, "userKey %s is not mapped: its hash was removed by an operator at %s\n", r.UserKey, r.At)
		row("removedHash", r.Hash)
		row("operator", r.Operator)
		row("reason", r.Reason)
	default:
		fmt.Fprintf(w, "userKey %s is not mapped (its item's state is %q)\n", r.UserKey, r.State)
	}
	if r.Problem != "" {
		fmt.Fprintf(w, "PROBLEM\t%s\n", r.Problem)
	}
	return w.Flush()
}

// parseUserKey accepts what the unlink callback accepts: decimal digits only, within int64.
func parseUserKey(s string) (int64, error) {
	if s == "" {
		return 0, errors.New("missing")
	}
	if len(s) > 19 {
		return 0, fmt.Errorf("%q is not a userKey (more than 19 digits)", clip(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q is not a userKey (decimal digits only)", clip(s))
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a userKey (out of range)", clip(s))
	}
	return n, nil
}

// checkHash applies the partner API's rule for a hash: what it would never have stored is bad
// input here too.
func checkHash(h string) error {
	return store.CheckText("hash", h, store.MaxHashLen)
}

// clip keeps user input short inside an error message (which quotes it with %q).
func clip(s string) string {
	if r := []rune(s); len(r) > 40 {
		return string(r[:40]) + "…"
	}
	return s
}
