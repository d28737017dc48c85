// Package migration holds the rules of moving a player from Toss login (userKey) to game login
// (hash): when to call Toss, what to keep, and what a link or an unlink means. It knows neither
// HTTP, nor DynamoDB, nor Toss's wire format: those sit behind the interfaces below.
package migration

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/metrics"
)

// Store keeps hash <-> userKey one to one (see package store).
type Store interface {
	IsMapped(ctx context.Context, hash string) (bool, error)
	// Link's started is when the link began, before its first Toss call: an unlink that
	// committed since then wins (apperr.ErrUnlinkedMeanwhile).
	Link(ctx context.Context, hash string, userKey int64, started time.Time, profile map[string]string) error
	Unlink(ctx context.Context, userKey int64, referrer string) (hash string, err error)
}

// Toss logs a user in with an authorization code (see package toss). Login decrypts only the
// named profile fields, and returns the access token for RemoveAccess: never log it.
type Toss interface {
	Login(ctx context.Context, code, referrer string, fields []string) (userKey int64, profile map[string]string, accessToken string, err error)
	VerifyHash(ctx context.Context, hash string) (bool, error)
	RemoveAccess(ctx context.Context, accessToken string) error
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
	// AllowSandbox accepts links whose referrer is SANDBOX (any case): sandbox hashes are mock
	// data that would squat real players, so production refuses them (contract §7).
	AllowSandbox bool
	// RemoveTossLogin calls Toss's remove-by-access-token after a link commits (contract §7).
	// Its failure never fails the link.
	RemoveTossLogin bool
	// OnRemoveAccess, when set, hears how each remove-by-access-token ended (nil = done).
	OnRemoveAccess func(ctx context.Context, err error)
	// TwinPauses are the waits before each look for a twin's mapping after invalid_grant;
	// DefaultTwinPauses when nil.
	TwinPauses []time.Duration
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

// IsSandbox reports whether referrer is the sandbox app's (appLogin() answers SANDBOX or sandbox).
func IsSandbox(referrer string) bool { return strings.EqualFold(referrer, "SANDBOX") }

// Blank reports whether hash has nothing visible in it: empty, spaces, or only invisible
// characters (controls, format characters, Hangul and Braille fillers). An SDK mock can hand
// out an empty hash; mapping one would squat it for every such player.
func Blank(hash string) bool {
	for _, r := range hash {
		switch {
		case unicode.IsSpace(r), unicode.IsControl(r), unicode.Is(unicode.Cf, r):
		case r == '\u115F', r == '\u1160', r == '\u3164', r == '\uFFA0', r == '\u2800', r == '\u180E':
		default:
			return false
		}
	}
	return true
}

// DefaultTwinPauses: after invalid_grant the mapping is looked for at once, and twice more
// within half a second — about what a twin request needs between its exchange and its write
// (login-me, then the transaction).
var DefaultTwinPauses = []time.Duration{0, 150 * time.Millisecond, 300 * time.Millisecond}

// Link maps hash to the user behind code. A hash that is already mapped succeeds at once, without
// spending the code; otherwise the code is exchanged once and the pair written atomically.
// A sandbox referrer is refused, unless allowed, before anything is read or spent.
func (s *Service) Link(ctx context.Context, hash, code, referrer string) error {
	if Blank(hash) {
		return apperr.Input("hash must not be empty or blank")
	}
	if referrer == "" {
		referrer = DefaultReferrer
	}
	if IsSandbox(referrer) && !s.AllowSandbox {
		return apperr.ErrSandboxRefused
	}
	mapped, err := s.Store.IsMapped(ctx, hash)
	if err != nil {
		return err
	}
	if mapped {
		metrics.SetOutcome(ctx, "already_mapped")
		return nil
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
	userKey, profile, token, err := s.Toss.Login(ctx, code, referrer, s.Keep)
	if errors.Is(err, apperr.ErrInvalidCode) && s.twinLinked(ctx, hash) {
		// A double tap: the same code came twice, and the other request spent it and linked.
		s.logger().InfoContext(ctx, "linked by a twin request", "kept_fields", len(s.Keep))
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.Store.Link(ctx, hash, userKey, started, keep(profile, s.Keep)); err != nil {
		return err
	}
	s.logger().InfoContext(ctx, "linked", "kept_fields", len(s.Keep))
	if s.RemoveTossLogin {
		s.removeTossLogin(ctx, token)
	}
	return nil
}

// twinLinked looks, after Toss refused the code, whether the hash got mapped meanwhile: by a
// twin request carrying the same code (a double tap), which spent it first. Which user it is
// mapped to cannot be checked (invalid_grant names no user), and need not be: a mapped hash
// answers success to any link without spending its code (contract §5), so this reveals nothing
// a link or a status call would not, and writes nothing. It costs at most len(TwinPauses)
// reads, only after an invalid_grant, and never outlives the request's deadline.
func (s *Service) twinLinked(ctx context.Context, hash string) bool {
	pauses := s.TwinPauses
	if pauses == nil {
		pauses = DefaultTwinPauses
	}
	for _, d := range pauses {
		if d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
		mapped, err := s.Store.IsMapped(ctx, hash)
		if err != nil {
			return false // the code's own answer stands
		}
		if mapped {
			return true
		}
	}
	return false
}

// RemoveTimeout bounds remove-by-access-token, which runs after the link committed, so that a
// slow Toss delays the link's answer by this much at most.
const RemoveTimeout = 2 * time.Second

// removeTossLogin ends the user's Toss login; its failure is logged (never the token) and
// reported, and the link stands.
func (s *Service) removeTossLogin(ctx context.Context, token string) {
	rctx, cancel := context.WithTimeout(ctx, RemoveTimeout)
	defer cancel()
	err := s.Toss.RemoveAccess(rctx, token)
	if err != nil {
		s.logger().WarnContext(ctx, "remove-by-access-token failed; the link stands", "error", err)
	}
	if s.OnRemoveAccess != nil {
		s.OnRemoveAccess(ctx, err)
	}
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
