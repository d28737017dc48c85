package migration

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
)

type fakeStore struct {
	mapped  bool
	err     error
	linked  map[string]string
	links   int
	userKey int64
	started time.Time
	// referrer is what Unlink was given.
	referrer string
}

func (s *fakeStore) IsMapped(context.Context, string) (bool, error) { return s.mapped, s.err }
func (s *fakeStore) Link(_ context.Context, _ string, uk int64, started time.Time, p map[string]string) error {
	s.links++
	s.userKey, s.linked, s.started = uk, p, started
	return nil
}
func (s *fakeStore) Unlink(_ context.Context, _ int64, referrer string) (string, error) {
	s.referrer = referrer
	return "", nil
}

type fakeToss struct {
	logins, verifies int
	referrer         string
	real             bool
	asked            []string // the fields Login was asked to decrypt
}

func (t *fakeToss) Login(_ context.Context, _, referrer string, fields []string) (int64, map[string]string, string, error) {
	t.logins++
	t.referrer = referrer
	t.asked = fields
	all := map[string]string{"name": "홍길동", "ci": "CI", "birthday": "19930324"}
	profile := map[string]string{}
	for _, f := range fields {
		if v, ok := all[f]; ok {
			profile[f] = v
		}
	}
	return 42, profile, "token", nil
}

func (t *fakeToss) RemoveAccess(context.Context, string) error { return nil }

func (t *fakeToss) VerifyHash(context.Context, string) (bool, error) {
	t.verifies++
	return t.real, nil
}

func TestLinkOnAMappedHashNeverCallsToss(t *testing.T) {
	st, tc := &fakeStore{mapped: true}, &fakeToss{}
	s := &Service{Store: st, Toss: tc, VerifyHash: true}
	if err := s.Link(context.Background(), "h", "code", ""); err != nil || tc.logins+tc.verifies != 0 || st.links != 0 {
		t.Fatalf("err %v, %d Toss calls, %d writes", err, tc.logins+tc.verifies, st.links)
	}
}

func TestLinkForwardsTheReferrerAndDefaultsIt(t *testing.T) {
	for sent, want := range map[string]string{"": "DEFAULT", "sandbox": "sandbox", "SANDBOX": "SANDBOX"} {
		tc := &fakeToss{}
		if err := (&Service{Store: &fakeStore{}, Toss: tc, AllowSandbox: true}).Link(context.Background(), "h", "c", sent); err != nil || tc.referrer != want {
			t.Errorf("referrer %q reached Toss as %q (%v), want %q", sent, tc.referrer, err, want)
		}
	}
}

func TestLinkKeepsOnlyTheNamedFields(t *testing.T) {
	for _, c := range []struct {
		keep []string
		want map[string]string
	}{
		{nil, nil},
		{[]string{"name"}, map[string]string{"name": "홍길동"}},
		{[]string{"ci", "email"}, map[string]string{"ci": "CI"}}, // email absent from this login
	} {
		st := &fakeStore{}
		if err := (&Service{Store: st, Toss: &fakeToss{}, Keep: c.keep}).Link(context.Background(), "h", "c", ""); err != nil {
			t.Fatal(err)
		}
		if st.userKey != 42 || !reflect.DeepEqual(st.linked, c.want) {
			t.Errorf("keep %v stored %v for %d, want %v", c.keep, st.linked, st.userKey, c.want)
		}
	}
}

func TestVerifyHashRefusesAnUnknownHashBeforeSpendingTheCode(t *testing.T) {
	tc := &fakeToss{real: false}
	err := (&Service{Store: &fakeStore{}, Toss: tc, VerifyHash: true}).Link(context.Background(), "h", "c", "")
	var input *apperr.InputError
	if !errors.As(err, &input) || tc.logins != 0 || tc.verifies != 1 {
		t.Fatalf("err %v, %d logins, %d verifies", err, tc.logins, tc.verifies)
	}
	tc = &fakeToss{real: true}
	if err := (&Service{Store: &fakeStore{}, Toss: tc, VerifyHash: true}).Link(context.Background(), "h", "c", ""); err != nil || tc.logins != 1 {
		t.Fatalf("a real hash: err %v, %d logins", err, tc.logins)
	}
}

func TestParseKeepAllowsOnlyKnownFieldsAndNoWildcard(t *testing.T) {
	got, err := ParseKeep([]string{"name", "", "ci", "name"})
	if err != nil || !reflect.DeepEqual(got, []string{"name", "ci"}) {
		t.Errorf("got %v %v", got, err)
	}
	for _, bad := range []string{"*", "all", "di", "Name"} {
		if _, err := ParseKeep([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// clockToss reads the service's clock when Toss is called, so a test can tell whether the link's
// start was taken before the first Toss call.
type clockToss struct {
	fakeToss
	now   func() time.Time
	first time.Time
}

func (c *clockToss) stamp() {
	if c.first.IsZero() {
		c.first = c.now()
	}
}

func (c *clockToss) Login(ctx context.Context, code, referrer string, fields []string) (int64, map[string]string, string, error) {
	c.stamp()
	return c.fakeToss.Login(ctx, code, referrer, fields)
}

func (c *clockToss) VerifyHash(ctx context.Context, hash string) (bool, error) {
	c.stamp()
	return c.fakeToss.VerifyHash(ctx, hash)
}

func TestLinkTakesItsStartBeforeTheFirstTossCall(t *testing.T) {
	for _, verify := range []bool{false, true} {
		var tick int64
		now := func() time.Time { tick++; return time.Unix(1_700_000_000, tick) } // every read is later
		st := &fakeStore{}
		tc := &clockToss{fakeToss: fakeToss{real: true}, now: now}
		if err := (&Service{Store: st, Toss: tc, VerifyHash: verify, Now: now}).Link(context.Background(), "h", "c", ""); err != nil {
			t.Fatal(err)
		}
		if st.started.IsZero() || !st.started.Before(tc.first) {
			t.Errorf("verify %v: the store got start %v, the first Toss call was at %v: want the start before it", verify, st.started, tc.first)
		}
	}
}

func TestUnlinkPassesTheReferrerToTheStore(t *testing.T) {
	st := &fakeStore{}
	if _, err := (&Service{Store: st}).Unlink(context.Background(), 7, "WITHDRAWAL_TERMS"); err != nil || st.referrer != "WITHDRAWAL_TERMS" {
		t.Fatalf("store got referrer %q (%v), want WITHDRAWAL_TERMS", st.referrer, err)
	}
}
