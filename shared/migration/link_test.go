package migration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
)

// scriptedStore answers IsMapped from a script (one answer per call, the last repeated) and
// records every call.
type scriptedStore struct {
	mu      sync.Mutex
	mapped  []bool
	err     error
	reads   int
	links   int
	linkErr error
}

func (s *scriptedStore) IsMapped(context.Context, string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.reads, len(s.mapped)-1)
	s.reads++
	if s.reads > 1 && s.err != nil {
		return false, s.err
	}
	return s.mapped[i], nil
}

func (s *scriptedStore) Link(context.Context, string, int64, time.Time, map[string]string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.links++
	return s.linkErr
}

func (s *scriptedStore) Unlink(context.Context, int64, string) (string, error) { return "", nil }

// scriptedToss answers Login with loginErr, and records RemoveAccess.
type scriptedToss struct {
	mu        sync.Mutex
	loginErr  error
	logins    int
	removed   []string
	removeErr error
}

func (t *scriptedToss) Login(context.Context, string, string, []string) (int64, map[string]string, string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.logins++
	if t.loginErr != nil {
		return 0, nil, "", t.loginErr
	}
	return 42, nil, "ACCESS-TOKEN-SENTINEL", nil
}

func (t *scriptedToss) VerifyHash(context.Context, string) (bool, error) { return true, nil }

func (t *scriptedToss) RemoveAccess(_ context.Context, token string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.removed = append(t.removed, token)
	return t.removeErr
}

// noPauses looks for a twin three times without waiting: the verdicts below never depend on time.
var noPauses = []time.Duration{0, 0, 0}

func TestASandboxLinkIsRefusedBeforeAnythingIsReadOrSpent(t *testing.T) {
	t.Parallel()
	for _, ref := range []string{"SANDBOX", "sandbox", "Sandbox"} {
		st, tc := &scriptedStore{mapped: []bool{false}}, &scriptedToss{}
		err := (&Service{Store: st, Toss: tc}).Link(context.Background(), "h", "code", ref)
		if !errors.Is(err, apperr.ErrSandboxRefused) || st.reads+st.links+tc.logins != 0 {
			t.Errorf("referrer %q: err %v, %d reads, %d writes, %d logins", ref, err, st.reads, st.links, tc.logins)
		}
	}
	for _, ref := range []string{"DEFAULT", "", "SANDBOXED", "UNLINK"} {
		st, tc := &scriptedStore{mapped: []bool{false}}, &scriptedToss{}
		if err := (&Service{Store: st, Toss: tc}).Link(context.Background(), "h", "code", ref); err != nil || st.links != 1 {
			t.Errorf("referrer %q: err %v, %d writes", ref, err, st.links)
		}
	}
	st, tc := &scriptedStore{mapped: []bool{false}}, &scriptedToss{}
	if err := (&Service{Store: st, Toss: tc, AllowSandbox: true}).Link(context.Background(), "h", "code", "SANDBOX"); err != nil || st.links != 1 {
		t.Errorf("allowed sandbox: err %v, %d writes", err, st.links)
	}
}

func TestABlankHashIsNeverMapped(t *testing.T) {
	t.Parallel()
	for _, h := range []string{"", " ", "\t\n", "\u00a0", "\u3164", "\u115f\u1160", "\u2800", "\u200b", "\ufeff", " \u3164 \u2800 "} {
		st, tc := &scriptedStore{mapped: []bool{false}}, &scriptedToss{}
		err := (&Service{Store: st, Toss: tc}).Link(context.Background(), h, "code", "")
		var input *apperr.InputError
		if !errors.As(err, &input) || st.reads+st.links+tc.logins != 0 {
			t.Errorf("hash %q: err %v, %d reads, %d writes, %d logins", h, err, st.reads, st.links, tc.logins)
		}
	}
	for _, h := range []string{"a", " a ", "\u3164a", "해시"} {
		if Blank(h) {
			t.Errorf("%q is visible, yet Blank", h)
		}
	}
}

func TestLinkAsksTossToDecryptOnlyTheKeptFields(t *testing.T) {
	t.Parallel()
	for _, keep := range [][]string{nil, {"name"}, {"ci", "birthday"}} {
		tc := &fakeToss{}
		if err := (&Service{Store: &fakeStore{}, Toss: tc, Keep: keep}).Link(context.Background(), "h", "c", ""); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(tc.asked, keep) {
			t.Errorf("keep %v: Toss was asked to decrypt %v", keep, tc.asked)
		}
	}
}

func TestADoubleTappedLinkWhoseTwinWonAnswersSuccess(t *testing.T) {
	t.Parallel()
	invalid := fmt.Errorf("generate-token: %w", apperr.ErrInvalidCode)
	cases := []struct {
		name     string
		mapped   []bool // IsMapped's answers: the first is before the exchange
		storeErr error  // on every read after the first
		want     error
		reads    int
	}{
		{"the twin's write is there at the first look", []bool{false, true}, nil, nil, 2},
		{"the twin's write is there at the third look", []bool{false, false, false, true}, nil, nil, 4},
		{"no twin: the code was spent long ago", []bool{false}, nil, apperr.ErrInvalidCode, 4},
		{"the store fails on the look: the code's answer stands", []bool{false}, errors.New("down"), apperr.ErrInvalidCode, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, tc := &scriptedStore{mapped: c.mapped, err: c.storeErr}, &scriptedToss{loginErr: invalid}
			err := (&Service{Store: st, Toss: tc, TwinPauses: noPauses}).Link(context.Background(), "h", "spent", "")
			if !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
				t.Errorf("err %v, want %v", err, c.want)
			}
			if st.reads != c.reads || st.links != 0 {
				t.Errorf("%d reads, %d writes; want %d reads and no write", st.reads, st.links, c.reads)
			}
		})
	}
	// Other Toss failures are not looked into.
	st := &scriptedStore{mapped: []bool{false, true}}
	err := (&Service{Store: st, Toss: &scriptedToss{loginErr: apperr.ErrTossUnavailable}, TwinPauses: noPauses}).Link(context.Background(), "h", "c", "")
	if !errors.Is(err, apperr.ErrTossUnavailable) || st.reads != 1 {
		t.Errorf("Toss unavailable: err %v after %d reads", err, st.reads)
	}
}

func TestTheTwinLookEndsWithTheRequestsDeadline(t *testing.T) {
	t.Parallel()
	st := &scriptedStore{mapped: []bool{false}}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the deadline has passed: no pause may be waited out
	s := &Service{Store: st, Toss: &scriptedToss{loginErr: apperr.ErrInvalidCode}, TwinPauses: []time.Duration{time.Hour}}
	if s.twinLinked(ctx, "h") || st.reads != 0 {
		t.Errorf("%d reads after the deadline", st.reads)
	}
}

func TestRemovingTheTossLoginFollowsTheCommitAndNeverFailsTheLink(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	cases := []struct {
		name      string
		on        bool
		mapped    bool
		linkErr   error
		removeErr error
		removed   int
		wantErr   error
	}{
		{"off by default", false, false, nil, nil, 0, nil},
		{"after a committed link", true, false, nil, nil, 1, nil},
		{"its failure is only reported", true, false, nil, fmt.Errorf("remove: %w", apperr.ErrTossUnavailable), 1, nil},
		{"not after a failed write", true, false, apperr.ErrUserLinked, nil, 0, apperr.ErrUserLinked},
		{"not for a hash already mapped (no token is held)", true, true, nil, nil, 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := &scriptedStore{mapped: []bool{c.mapped}, linkErr: c.linkErr}
			tc := &scriptedToss{removeErr: c.removeErr}
			var reported []error
			s := &Service{Store: st, Toss: tc, RemoveTossLogin: c.on, Log: log,
				OnRemoveAccess: func(_ context.Context, err error) { reported = append(reported, err) }}
			err := s.Link(context.Background(), "h", "c", "")
			if !errors.Is(err, c.wantErr) || (c.wantErr == nil) != (err == nil) {
				t.Fatalf("err %v, want %v", err, c.wantErr)
			}
			if len(tc.removed) != c.removed || len(reported) != c.removed {
				t.Fatalf("%d removals, %d reports; want %d", len(tc.removed), len(reported), c.removed)
			}
			if c.removed == 1 && (tc.removed[0] != "ACCESS-TOKEN-SENTINEL" || !errors.Is(reported[0], c.removeErr) || (c.removeErr == nil) != (reported[0] == nil)) {
				t.Errorf("removed with %q, reported %v", tc.removed[0], reported[0])
			}
		})
	}
	if !strings.Contains(logs.String(), "remove-by-access-token failed") {
		t.Errorf("the failed removal was not logged: %s", logs.String())
	}
	if strings.Contains(logs.String(), "ACCESS-TOKEN-SENTINEL") {
		t.Errorf("the access token reached the logs: %s", logs.String())
	}
}
