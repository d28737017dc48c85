package store_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/dev/ddblocal"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/store"
)

// These tests run against Amazon's DynamoDB Local, truly concurrently (no proxy between): ddblocal
// installs it into the project cache when missing, starts one per test binary (or uses
// DYNAMODB_LOCAL_ENDPOINT), and fails the test, saying what to install, when it cannot.
func TestMain(m *testing.M) { ddblocal.RunTests(m) }

func newTable(t *testing.T) (*store.Table, *dynamodb.Client, string) {
	t.Helper()
	db, name := newTableName(t)
	return store.New(db, name), db, name
}

// newTableName creates a table of the test's own, as template.yaml declares it.
func newTableName(t testing.TB) (*dynamodb.Client, string) {
	t.Helper()
	db := ddblocal.TestServer(t).Client()
	name := ddblocal.TableName("store-test-")
	if err := devenv.CreateTable(context.Background(), db, name); err != nil {
		t.Fatal(err)
	}
	return db, name
}

// items returns the whole table as pk -> item, to prove what is (and is not) stored.
func items(t *testing.T, db *dynamodb.Client, table string) map[string]map[string]types.AttributeValue {
	t.Helper()
	out, err := db.Scan(context.Background(), &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]map[string]types.AttributeValue{}
	for _, it := range out.Items {
		m[it["pk"].(*types.AttributeValueMemberS).Value] = it
	}
	return m
}

// consistent checks the invariant: every hash item has its userKey item pointing back, and the
// reverse; and returns the pairs.
func consistent(t *testing.T, db *dynamodb.Client, table string) map[string]string {
	t.Helper()
	all := items(t, db, table)
	pairs := map[string]string{}
	for pk, it := range all {
		switch {
		case strings.HasPrefix(pk, "h#"):
			uk := it["userKey"].(*types.AttributeValueMemberN).Value
			back, ok := all["u#"+uk]
			if !ok || back["hash"].(*types.AttributeValueMemberS).Value != pk[2:] {
				t.Errorf("hash item %s has no matching userKey item", pk)
			}
			pairs[pk[2:]] = uk
		case strings.HasPrefix(pk, "u#") && state(it) == store.StateUnlinked:
			// A tombstone: the userKey, the unlinked hash, referrer and times, nothing else.
			for a := range it {
				switch a {
				case "pk", "state", "unlinkedHash", "referrer", "at", "expiresAt":
				default:
					t.Errorf("tombstone %s holds %s", pk, a)
				}
			}
			if h, ok := it["unlinkedHash"].(*types.AttributeValueMemberS); ok {
				if fwd, ok := all["h#"+h.Value]; ok && fwd["userKey"].(*types.AttributeValueMemberN).Value == pk[2:] {
					t.Errorf("tombstone %s still has its hash item", pk)
				}
			}
		case strings.HasPrefix(pk, "u#"):
			if state(it) != store.StateLinked {
				t.Errorf("user item %s is in state %q", pk, state(it))
			}
			h := it["hash"].(*types.AttributeValueMemberS).Value
			fwd, ok := all["h#"+h]
			if !ok || fwd["userKey"].(*types.AttributeValueMemberN).Value != pk[2:] {
				t.Errorf("userKey item %s has no matching hash item", pk)
			}
		default:
			t.Errorf("unexpected item %s", pk)
		}
	}
	return pairs
}

func state(it map[string]types.AttributeValue) string {
	if v, ok := it["state"].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func TestLinkIsOneToOneAndIdempotent(t *testing.T) {
	t.Parallel()
	s, db, table := newTable(t)
	ctx := context.Background()

	if ok, err := s.IsMapped(ctx, "hash-a"); err != nil || ok {
		t.Fatalf("unknown hash: %v %v", ok, err)
	}
	if err := s.Link(ctx, "hash-a", 1001, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.IsMapped(ctx, "hash-a"); !ok {
		t.Fatal("linked hash reads as unmapped")
	}
	if ok, _ := s.IsMapped(ctx, "HASH-A"); ok {
		t.Fatal("hashes must be case sensitive")
	}
	before := items(t, db, table)

	if err := s.Link(ctx, "hash-a", 1001, time.Now(), nil); err != nil {
		t.Fatalf("the same pair again must succeed: %v", err)
	}
	if err := s.Link(ctx, "hash-a", 2002, time.Now(), nil); !errors.Is(err, apperr.ErrHashLinked) {
		t.Fatalf("hash taken by another user: %v, want ErrHashLinked", err)
	}
	if err := s.Link(ctx, "hash-b", 1001, time.Now(), nil); !errors.Is(err, apperr.ErrUserLinked) {
		t.Fatalf("user taken by another hash: %v, want ErrUserLinked", err)
	}
	after := items(t, db, table)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("a repeat or a conflict changed the table:\n%v\n%v", before, after)
	}
	if len(after) != 2 {
		t.Fatalf("want exactly the two items of one mapping, have %d", len(after))
	}
	consistent(t, db, table)
}

func TestUnlinkRemovesEveryTraceAndRepeatsQuietly(t *testing.T) {
	t.Parallel()
	s, db, table := newTable(t)
	ctx := context.Background()
	if err := s.Link(ctx, "hash-p", 7, time.Now(), map[string]string{"name": "홍길동", "birthday": "19930324"}); err != nil {
		t.Fatal(err)
	}
	m, err := s.Get(ctx, "hash-p")
	if err != nil || m == nil || m.UserKey != 7 || m.Profile["name"] != "홍길동" || m.LinkedAt == "" {
		t.Fatalf("stored mapping %+v %v", m, err)
	}
	if err := s.Link(ctx, "hash-q", 8, time.Now(), nil); err != nil {
		t.Fatal(err)
	}

	hash, err := s.Unlink(ctx, 7, "UNLINK")
	if err != nil || hash != "hash-p" {
		t.Fatalf("unlink: %q %v", hash, err)
	}
	if ok, _ := s.IsMapped(ctx, "hash-p"); ok {
		t.Fatal("status still true after unlink")
	}
	all := items(t, db, table)
	if _, ok := all["h#hash-p"]; ok {
		t.Error("the hash item survived the unlink")
	}
	if st := state(all["u#7"]); st != store.StateUnlinked {
		t.Errorf("the user item is %q after the unlink, want the tombstone", st)
	}
	if ok, _ := s.IsMapped(ctx, "hash-q"); !ok {
		t.Fatal("unlink touched another user's mapping")
	}
	for _, uk := range []int64{7, 0, 999} {
		if hash, err := s.Unlink(ctx, uk, "UNLINK"); err != nil || hash != "" {
			t.Errorf("unlink of absent %d: %q %v", uk, hash, err)
		}
	}
	// After an unlink, both sides are free again.
	if err := s.Link(ctx, "hash-p", 9, time.Now(), nil); err != nil {
		t.Fatalf("relink the hash to another user: %v", err)
	}
	consistent(t, db, table)
}

// race runs n calls of fn at once.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

func count(errs []error, target error) (ok, match int) {
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, target):
			match++
		}
	}
	return
}

// Repetitions make a rare interleaving show.
const repetitions = 10

func TestConcurrentLinksOfOneHashLetExactlyOneUserIn(t *testing.T) {
	t.Parallel()
	s, db, table := newTable(t)
	ctx := context.Background()
	for rep := range repetitions {
		hash := "contended-" + strconv.Itoa(rep)
		errs := race(32, func(i int) error { return s.Link(ctx, hash, int64(rep*100+i+1), time.Now(), nil) })
		if ok, conflict := count(errs, apperr.ErrHashLinked); ok != 1 || conflict != 31 {
			t.Fatalf("rep %d: %d succeeded and %d got HASH_ALREADY_LINKED, want 1 and 31: %v", rep, ok, conflict, errs)
		}
	}
	if pairs := consistent(t, db, table); len(pairs) != repetitions {
		t.Fatalf("%d mappings, want %d", len(pairs), repetitions)
	}
}

func TestConcurrentLinksOfOneUserLetExactlyOneHashIn(t *testing.T) {
	t.Parallel()
	s, db, table := newTable(t)
	ctx := context.Background()
	for rep := range repetitions {
		errs := race(32, func(i int) error { return s.Link(ctx, fmt.Sprintf("h-%d-%d", rep, i), int64(rep+1), time.Now(), nil) })
		if ok, conflict := count(errs, apperr.ErrUserLinked); ok != 1 || conflict != 31 {
			t.Fatalf("rep %d: %d succeeded and %d got USER_ALREADY_LINKED, want 1 and 31: %v", rep, ok, conflict, errs)
		}
	}
	if pairs := consistent(t, db, table); len(pairs) != repetitions {
		t.Fatalf("%d mappings, want %d", len(pairs), repetitions)
	}
}

func TestLinksRacingUnlinksLeaveNoHalfMapping(t *testing.T) {
	t.Parallel()
	s, db, table := newTable(t)
	ctx := context.Background()
	for rep := range repetitions {
		user := int64(500 + rep)
		errs := race(16, func(i int) error {
			if i%2 == 0 {
				_, err := s.Unlink(ctx, user, "UNLINK")
				return err
			}
			err := s.Link(ctx, fmt.Sprintf("r-%d-%d", rep, i), user, time.Now(), nil)
			if errors.Is(err, apperr.ErrUserLinked) || errors.Is(err, apperr.ErrHashLinked) || errors.Is(err, apperr.ErrUnlinkedMeanwhile) {
				return nil // losing the race is a correct answer
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("rep %d: %v", rep, err)
			}
		}
		consistent(t, db, table)
	}
}
