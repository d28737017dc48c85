// Package migration holds the rules of moving a player from Toss login (userKey) to game login
// (hash): when to call Toss, what to keep, and what a link or an unlink means. It knows neither
// HTTP, nor DynamoDB, nor Toss's wire format: those sit behind the interfaces below.
package migration

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Store keeps hash <-> userKey one to one (see package store).
type Store interface {
	IsMapped(ctx context.Context, hash string) (bool, error)
	// Link's started is when the link began, before its first Toss call: an unlink that
	// committed since then wins (apperr.ErrUnlinkedMeanwhile).
	Link(ctx context.Context, hash string, userKey int64, started time.Time, profile map[string]string) error
	Unlink(ctx context.Context, userKey int64, referrer string) (hash string, err error)
}

// Toss logs a user in with an authorization code (see package toss).
type Toss interface {
	Login(ctx context.Context, code, referrer string) (userKey int64, profile map[string]string, err error)
	VerifyHash(ctx context.Context, hash string) (bool, error)
}

// ProfileFields are the decrypted login-me fields a studio may choose to keep.
var ProfileFields = []string{"name", "phone", "birthday", "ci", "gender", "nationality", "email"}

// Service is the domain. Toss may be nil for a function that never links.
type Service struct {
	Store Store
	Toss  Toss
	// Keep names the profile fields stored with a mapping. Empty (the default) keeps none:
	// collect no more personal data than the migration needs.
	Keep []string
	// VerifyHash asks Toss whether a hash is real before spending a code (contract §3).
	VerifyHash bool
	Log        *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Status reports whether hash is mapped.
func (s *Service) Status(ctx context.Context, hash string) (bool, error) {
	return s.Store.IsMapped(ctx, hash)
}

// DefaultReferrer is what a link without a referrer forwards to Toss.
const DefaultReferrer = "DEFAULT"

// Link maps hash to the user behind code. A hash that is already mapped succeeds at once, without
// spending the code; otherwise the code is exchanged once and the pair written atomically.
func (s *Service) Link(ctx context.Context, hash, code, referrer string) error {
	mapped, err := s.Store.IsMapped(ctx, hash)
	if err != nil {
		return err
	}
	if mapped {
		return nil
	}
	if referrer == "" {
		referrer = DefaultReferrer
	}
	started := s.now() // before the first Toss call: an unlink from here on wins
	if s.VerifyHash {
		ok, err := s.Toss.VerifyHash(ctx, hash)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.Input("hash is not recognised by Toss")
		}
	}
	userKey, profile, err := s.Toss.Login(ctx, code, referrer)
	if err != nil {
		return err
	}
	if err := s.Store.Link(ctx, hash, userKey, started, keep(profile, s.Keep)); err != nil {
		return err
	}
	s.logger().InfoContext(ctx, "linked", "kept_fields", len(s.Keep))
	return nil
}

// Unlink removes userKey's mapping and records the unlink, with Toss's referrer, for the studio;
// unknown users are fine (the callback may repeat).
func (s *Service) Unlink(ctx context.Context, userKey int64, referrer string) (bool, error) {
	hash, err := s.Store.Unlink(ctx, userKey, referrer)
	if err != nil {
		return false, err
	}
	return hash != "", nil
}

func keep(profile map[string]string, fields []string) map[string]string {
	if len(fields) == 0 {
		return nil
	}
	kept := make(map[string]string, len(fields))
	for _, f := range fields {
		if v, ok := profile[f]; ok {
			kept[f] = v
		}
	}
	return kept
}

// ParseKeep checks a list of field names to keep. "ci" is allowed only when named on its own:
// there is deliberately no wildcard.
func ParseKeep(names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		if n == "" {
			continue
		}
		if !slices.Contains(ProfileFields, n) {
			return nil, fmt.Errorf("unknown profile field %q (known: %v)", n, ProfileFields)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out, nil
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *Service) logger() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}
