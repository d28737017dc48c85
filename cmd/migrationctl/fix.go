package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strconv"

	"github.com/tossgame/migration-server/shared/store"
)

func unmapCommand() command {
	return command{
		name: "unmap", args: "--hash H --reason R",
		summary: "remove a hash's mapping (e.g. a squatted hash), audited: the studio gets MappingRemoved",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			hash := fs.String("hash", "", "the mapped `hash` to remove")
			reason := fs.String("reason", "", "why (kept in the marker and the event)")
			operator := fs.String("operator", "", "who, with --local only (against AWS: the caller's IAM ARN)")
			return func(ctx context.Context) error {
				if err := checkHash(*hash); err != nil {
					return usagef("unmap: --hash: %s", explain(err))
				}
				audit, adm, err := a.prepareFix(ctx, "unmap", *reason, *operator)
				if err != nil {
					return err
				}
				u, err := adm.Unmap(ctx, *hash, audit)
				if err != nil {
					return fixError("unmap", err, fmt.Sprintf("hash %q", *hash))
				}
				r := fixResult{Action: "unmapped", UserKey: strconv.FormatInt(u.UserKey, 10), Hash: u.Hash,
					At: u.At, Operator: audit.Operator, Reason: audit.Reason}
				if a.g.json {
					return printJSON(a.sys.stdout, r)
				}
				fmt.Fprintf(a.sys.stdout, "unmapped hash %q from userKey %s at %s\n  operator %s\n  reason   %s\n",
					r.Hash, r.UserKey, r.At, r.Operator, r.Reason)
				return nil
			}
		},
	}
}

func moveCommand() command {
	return command{
		name: "move", args: "--user-key K --hash NEW --reason R",
		summary: "map a linked user to a new hash instead of its current one, audited: the studio gets MappingMoved",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			userKey := fs.String("user-key", "", "the linked user's `userKey`")
			hash := fs.String("hash", "", "the user's new `hash` (must not be mapped)")
			reason := fs.String("reason", "", "why (kept in the item and the event)")
			operator := fs.String("operator", "", "who, with --local only (against AWS: the caller's IAM ARN)")
			return func(ctx context.Context) error {
				uk, err := parseUserKey(*userKey)
				if err != nil {
					return usagef("move: --user-key: %v", err)
				}
				if err := checkHash(*hash); err != nil {
					return usagef("move: --hash: %s", explain(err))
				}
				audit, adm, err := a.prepareFix(ctx, "move", *reason, *operator)
				if err != nil {
					return err
				}
				m, err := adm.Move(ctx, uk, *hash, audit)
				if err != nil {
					return fixError("move", err, fmt.Sprintf("userKey %d to hash %q", uk, *hash))
				}
				r := fixResult{Action: "moved", UserKey: strconv.FormatInt(m.UserKey, 10), Hash: m.Hash,
					PreviousHash: m.PreviousHash, At: m.At, Operator: audit.Operator, Reason: audit.Reason}
				if a.g.json {
					return printJSON(a.sys.stdout, r)
				}
				fmt.Fprintf(a.sys.stdout, "moved userKey %s from hash %q to %q at %s\n  operator %s\n  reason   %s\n",
					r.UserKey, r.PreviousHash, r.Hash, r.At, r.Operator, r.Reason)
				return nil
			}
		},
	}
}

type fixResult struct {
	Action       string `json:"action"`
	UserKey      string `json:"userKey"`
	Hash         string `json:"hash"`
	PreviousHash string `json:"previousHash,omitempty"`
	At           string `json:"at"`
	Operator     string `json:"operator"`
	Reason       string `json:"reason"`
}

// prepareFix checks the reason, finds the operator and opens the table, before anything is read.
func (a *app) prepareFix(ctx context.Context, op, reason, operator string) (store.Audit, *store.Admin, error) {
	if err := store.CheckText("reason", reason, store.MaxReasonLen); err != nil {
		return store.Audit{}, nil, usagef("%s: --reason: %s", op, explain(err))
	}
	if operator != "" && !a.g.local {
		return store.Audit{}, nil, usagef("--operator is for --local only: against AWS the operator is the caller's IAM identity")
	}
	adm, _, err := a.admin(ctx)
	if err != nil {
		return store.Audit{}, nil, err
	}
	who, err := a.operator(ctx, operator)
	if err != nil {
		return store.Audit{}, nil, err
	}
	if err := store.CheckText("operator", who, store.MaxOperatorLen); err != nil {
		return store.Audit{}, nil, usagef("%s: --operator: %s", op, explain(err))
	}
	return store.Audit{Operator: who, Reason: reason}, adm, nil
}

// fixError says why a fix was refused, and that nothing was written.
func fixError(op string, err error, what string) error {
	for _, refusal := range []error{store.ErrNotMapped, store.ErrNotLinked, store.ErrHashTaken, store.ErrSameHash,
		store.ErrInconsistent, store.ErrChanged} {
		if errors.Is(err, refusal) {
			return fmt.Errorf("%s %s refused: %v; nothing was written", op, what, trimOp(op, err))
		}
	}
	// The transaction may have been sent: it applied whole or not at all, and lookup tells which.
	return fmt.Errorf("%s %s failed: %w (a fix applies whole or not at all: lookup shows whether it did)", op, what, err)
}

func trimOp(op string, err error) string {
	s := err.Error()
	if len(s) > len(op)+2 && s[:len(op)+2] == op+": " {
		return s[len(op)+2:]
	}
	return s
}
