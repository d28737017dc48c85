package store_test

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/store"
)

// The tombstone against a real DynamoDB API (moto): its conditions are evaluated by the server.

// clock is a settable time for a store.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock        { c := &clock{}; c.ns.Store(t.UnixNano()); return c }
func (c *clock) now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) advance(d time.Duration) { c.ns.Add(int64(d)) }

func TestAnUnlinkThatCommitsWhileALinkIsInFlightWins(t *testing.T) {
	t.Parallel()
	_, db, table := newTable(t)
	c := newClock(time.Date(2036, 12, 1, 9, 0, 0, 0, time.UTC)) // ahead of DynamoDB Local's TTL sweep
	s := store.New(db, table, store.WithClock(c.now))
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		userKey int64
		before  string // the user's mapping before the race ("" = never linked)
	}{
		{"a never-linked user", 100, ""},
		{"a user linked to another hash", 101, "old-101"},
	} {
		if tc.before != "" {
			if err := s.Link(ctx, tc.before, tc.userKey, c.now(), nil); err != nil {
				t.Fatal(err)
			}
		}
		c.advance(time.Second)
		started := c.now() // the link takes its start, then talks to Toss ...
		c.advance(time.Millisecond)
		if _, err := s.Unlink(ctx, tc.userKey, "UNLINK"); err != nil { // ... while the unlink commits
			t.Fatal(err)
		}
		c.advance(time.Millisecond)
		hash := "new-" + tc.name
		err := s.Link(ctx, hash, tc.userKey, started, nil)
		if !errors.Is(err, apperr.ErrUnlinkedMeanwhile) {
			t.Fatalf("%s: the link after the unlink answered %v, want ErrUnlinkedMeanwhile", tc.name, err)
		}
		if ok, _ := s.IsMapped(ctx, hash); ok {
			t.Fatalf("%s: the link wrote its mapping", tc.name)
		}
		// A link that begins after the unlink is a new consent: it maps.
		c.advance(time.Millisecond)
		if err := s.Link(ctx, hash, tc.userKey, c.now(), nil); err != nil {
			t.Fatalf("%s: a later link: %v", tc.name, err)
		}
		u := items(t, db, table)["u#"+itoa(tc.userKey)]
		if state(u) != store.StateLinked || u["expiresAt"] != nil {
			t.Fatalf("%s: the later link left %v, want a linked item that never expires", tc.name, u)
		}
	}
	consistent(t, db, table)
}

func TestARepeatedUnlinkWritesNothingUntilItsTombstoneExpires(t *testing.T) {
	t.Parallel()
	_, db, table := newTable(t)
	// A clock in the future: DynamoDB Local sweeps items whose TTL has passed in real time.
	c := newClock(time.Date(2036, 12, 1, 9, 0, 0, 0, time.UTC))
	s := store.New(db, table, store.WithClock(c.now), store.WithTombstoneTTL(time.Hour))
	ctx := context.Background()
	if err := s.Link(ctx, "hash-r", 200, c.now(), nil); err != nil {
		t.Fatal(err)
	}
	c.advance(time.Second)
	if hash, err := s.Unlink(ctx, 200, "WITHDRAWAL_TERMS"); err != nil || hash != "hash-r" {
		t.Fatalf("unlink: %q %v", hash, err)
	}
	first := items(t, db, table)["u#200"]
	want := map[string]types.AttributeValue{
		"pk": S("u#200"), "state": S("unlinked"), "unlinkedHash": S("hash-r"), "referrer": S("WITHDRAWAL_TERMS"),
		"at": S("2036-12-01T09:00:01.000000000Z"), "expiresAt": N("2111738402"),
	}
	if !reflect.DeepEqual(first, want) {
		t.Fatalf("tombstone %v, want %v", first, want)
	}
	for _, d := range []time.Duration{time.Second, 58 * time.Minute} {
		c.advance(d)
		if hash, err := s.Unlink(ctx, 200, "UNLINK"); err != nil || hash != "" {
			t.Fatalf("repeat: %q %v", hash, err)
		}
		if got := items(t, db, table)["u#200"]; !reflect.DeepEqual(got, first) {
			t.Fatalf("a repeat changed the tombstone: %v", got)
		}
	}
	c.advance(2 * time.Minute) // past expiresAt, before DynamoDB's TTL sweep removed it
	if _, err := s.Unlink(ctx, 200, "UNLINK"); err != nil {
		t.Fatal(err)
	}
	if got := items(t, db, table)["u#200"]; reflect.DeepEqual(got, first) || state(got) != store.StateUnlinked || got["unlinkedHash"] != nil {
		t.Fatalf("an unlink after the tombstone expired left %v, want a fresh tombstone without a hash", got)
	}
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
