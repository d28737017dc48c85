package httpapi

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/tossgame/migration-server/shared/apperr"
)

// rotatingSource stands for the secret cache: the values it holds, the values a fresh read
// would find, and how often each was asked for.
type rotatingSource struct {
	mu            sync.Mutex
	held, stored  []string
	gets, refresh int
	refreshErr    error
}

func (s *rotatingSource) get(_ context.Context, fresh bool) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !fresh {
		s.gets++
		return s.held, nil
	}
	s.refresh++
	if s.refreshErr != nil {
		return nil, s.refreshErr
	}
	s.held = s.stored
	return s.held, nil
}

func TestUnlinkAcceptsTheCurrentAndTheNextValueDuringARotation(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		held     []string
		auth     string
		want     answer
		refresh  int // forced re-reads asked for
		unlinked bool
	}{
		{"the current value", []string{"old:pw", "new:pw"}, basic("old:pw"), answer{200, ""}, 0, true},
		{"the next value", []string{"old:pw", "new:pw"}, basic("new:pw"), answer{200, ""}, 0, true},
		{"a value that is neither", []string{"old:pw", "new:pw"}, basic("other:pw"), answer{401, "UNAUTHORIZED"}, 1, false},
		{"a prefix of one of them", []string{"old:pw", "new:pw"}, basic("new:p"), answer{401, "UNAUTHORIZED"}, 1, false},
		{"both concatenated", []string{"old:pw", "new:pw"}, basic("old:pwnew:pw"), answer{401, "UNAUTHORIZED"}, 1, false},
		{"an empty next value is no value", []string{"old:pw", ""}, basic(""), answer{401, "UNAUTHORIZED"}, 1, false},
		{"a malformed header asks for no re-read", []string{"old:pw"}, "Bearer old:pw", answer{401, "UNAUTHORIZED"}, 0, false},
		{"no header asks for no re-read", []string{"old:pw"}, "", answer{401, "UNAUTHORIZED"}, 0, false},
		{"only empty values are not configured", []string{"", ""}, basic(""), answer{503, "SERVICE_UNAVAILABLE"}, 0, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			src := &rotatingSource{held: c.held, stored: c.held}
			d := &fakeDomain{}
			resp, err := Unlink(d, src.get, opts())(context.Background(), unlinkReq("GET", "userKey=7", "", c.auth))
			check(t, c.name, resp, err, c.want)
			if src.refresh != c.refresh {
				t.Errorf("%d forced re-reads, want %d", src.refresh, c.refresh)
			}
			if (d.calls == 1) != c.unlinked {
				t.Errorf("the domain was called %d times", d.calls)
			}
		})
	}
}

func TestAValueRotatedInTheSecretIsAcceptedOnTheFirstRequestThatCarriesIt(t *testing.T) {
	t.Parallel()
	// The container holds the old value; the secret already has the next one.
	src := &rotatingSource{held: []string{"old:pw"}, stored: []string{"old:pw", "new:pw"}}
	d := &fakeDomain{}
	h := Unlink(d, src.get, opts())
	resp, err := h(context.Background(), unlinkReq("GET", "userKey=7", "", basic("new:pw")))
	check(t, "the rotated value", resp, err, answer{200, ""})
	if src.refresh != 1 || d.calls != 1 {
		t.Fatalf("%d re-reads, %d unlinks; want 1 and 1", src.refresh, d.calls)
	}
	// Once re-read, the value is held: no more re-reads.
	resp, err = h(context.Background(), unlinkReq("GET", "userKey=7", "", basic("new:pw")))
	check(t, "again", resp, err, answer{200, ""})
	if src.refresh != 1 {
		t.Errorf("a held value was re-read: %d re-reads", src.refresh)
	}
	// A secret that turns out gone on the re-read fails closed.
	src.refreshErr = fmt.Errorf("x: %w", apperr.ErrNotConfigured)
	resp, err = h(context.Background(), unlinkReq("GET", "userKey=7", "", basic("other:pw")))
	check(t, "re-read of a gone secret", resp, err, answer{503, "SERVICE_UNAVAILABLE"})
	if d.calls != 2 {
		t.Errorf("the domain was called %d times, want 2", d.calls)
	}
}

func TestASandboxLinkRefusedByTheDomainIsItsOwn400(t *testing.T) {
	t.Parallel()
	d := &fakeDomain{err: fmt.Errorf("link: %w", apperr.ErrSandboxRefused)}
	resp, err := Link(d, opts())(context.Background(), request("POST", `{"hash":"h","authorizationCode":"c","referrer":"SANDBOX"}`))
	check(t, "sandbox", resp, err, answer{400, "SANDBOX_NOT_ALLOWED"})
	if p := Classify(apperr.ErrSandboxRefused); p.Code != "SANDBOX_NOT_ALLOWED" || p.Status != 400 {
		t.Errorf("Classify: %+v", p)
	}
}
