package migration

import (
	"context"
	"testing"

	"github.com/tossgame/migration-server/shared/metrics"
)

// The request's Outcome tells a link that mapped a hash from one that found it mapped already;
// only the domain knows which, and it says so through the request's metrics.
func TestLinkReportsWhetherItLinkedOrFoundTheHashMapped(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		mapped bool
		want   string
	}{{true, "already_mapped"}, {false, ""}} {
		ctx, set := metrics.With(context.Background())
		s := &Service{Store: &fakeStore{mapped: c.mapped}, Toss: &fakeToss{}}
		if err := s.Link(ctx, "h", "code", ""); err != nil {
			t.Fatal(err)
		}
		// "" leaves the wrapper's default for a success of link: linked.
		if got := set.Outcome(); got != c.want {
			t.Errorf("mapped=%v: outcome %q, want %q", c.mapped, got, c.want)
		}
	}
}
