package store_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/seed"
	"github.com/tossgame/migration-server/shared/store"
)

// adminTable is a fresh table on the test binary's moto_server, with the operator's view of it.
func adminTable(t *testing.T) (*store.Admin, *dynamodb.Client, string) {
	t.Helper()
	db := devenv.TestMoto(t).DynamoDB()
	name := "admin-test-" + devenv.Unique()
	if err := devenv.CreateTable(context.Background(), db, name); err != nil {
		t.Fatal(err)
	}
	return store.NewAdmin(db, name), db, name
}

func put(t *testing.T, db *dynamodb.Client, table string, items ...seed.Item) {
	t.Helper()
	if err := seed.Write(context.Background(), db, table, items, 4); err != nil {
		t.Fatal(err)
	}
}

// snapshot is the whole table, by pk.
func snapshot(t *testing.T, db *dynamodb.Client, table string) map[string]seed.Item {
	t.Helper()
	all := map[string]seed.Item{}
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		out, err := p.NextPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range out.Items {
			all[it["pk"].(*types.AttributeValueMemberS).Value] = it
		}
	}
	return all
}

func str(it seed.Item, name string) string {
	if v, ok := it[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

// day1 is ahead of the real clock: DynamoDB Local sweeps markers whose TTL has passed.
var day1 = time.Date(2036, 3, 1, 9, 0, 0, 0, time.UTC)

func TestAdminReadsEveryItemShapeOfTheTable(t *testing.T) {
	t.Parallel()
	adm, db, table := adminTable(t)
	ctx := context.Background()
	var items []seed.Item
	items = append(items, seed.LegacyLinked("legacy-hash", 1, day1)...)
	items = append(items, seed.Linked("new-hash", 2, day1.Add(26*time.Hour), map[string]string{"name": "홍길동"})...)
	items = append(items,
		seed.Unlinked(3, "gone-hash", "UNLINK", day1),
		seed.Unlinked(4, "", "WITHDRAWAL_TOSS", day1),
		seed.Removed(5, "squatted", "arn:aws:iam::1:user/op", "squatting", day1))
	put(t, db, table, items...)

	tests := []struct {
		name    string
		userKey int64
		want    *store.User
	}{
		{"an item written before states had one reads as linked", 1, &store.User{UserKey: 1, State: store.StateLinked, Hash: "legacy-hash"}},
		{"a linked item carries its hash and time", 2, &store.User{UserKey: 2, State: store.StateLinked, Hash: "new-hash", LinkedAt: seed.Stamp(day1.Add(26 * time.Hour))}},
		{"a tombstone keeps the unlinked hash and referrer", 3, &store.User{UserKey: 3, State: store.StateUnlinked, UnlinkedHash: "gone-hash", Referrer: "UNLINK", At: seed.Stamp(day1), ExpiresAt: day1.Add(24 * time.Hour).Unix()}},
		{"a never-linked user's tombstone has no hash", 4, &store.User{UserKey: 4, State: store.StateUnlinked, Referrer: "WITHDRAWAL_TOSS", At: seed.Stamp(day1), ExpiresAt: day1.Add(24 * time.Hour).Unix()}},
		{"an operator's marker names who and why", 5, &store.User{UserKey: 5, State: store.StateRemoved, RemovedHash: "squatted", Operator: "arn:aws:iam::1:user/op", Reason: "squatting", At: seed.Stamp(day1), ExpiresAt: day1.Add(24 * time.Hour).Unix()}},
		{"an unknown user has no item", 6, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := adm.ByUserKey(ctx, tt.userKey)
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ByUserKey(%d) = %+v, %v; want %+v", tt.userKey, got, err, tt.want)
			}
		})
	}
	m, err := adm.ByHash(ctx, "new-hash")
	if err != nil || m == nil || m.UserKey != 2 || m.Profile["name"] != "홍길동" {
		t.Fatalf("ByHash(new-hash) = %+v, %v", m, err)
	}
	if m, err := adm.ByHash(ctx, "gone-hash"); m != nil || err != nil {
		t.Fatalf("ByHash of an unlinked hash = %+v, %v; want nil", m, err)
	}

	c, err := adm.Count(ctx, store.ScanOptions{Segments: 3, Consistent: true})
	if err != nil {
		t.Fatal(err)
	}
	want := store.Counts{Items: 7, Mapped: 2, LinkedUsers: 2,
		LinksPerDay:        map[string]int64{"2036-03-01": 1, "2036-03-02": 1},
		UnlinksPerReferrer: map[string]int64{"UNLINK": 1, "WITHDRAWAL_TOSS": 1}, NeverLinkedUnlinks: 1, Removed: 1}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("Count = %+v\nwant    %+v", c, want)
	}
	info, err := adm.Describe(ctx)
	if err != nil || info.Name != table || info.Status != "ACTIVE" {
		t.Fatalf("Describe = %+v, %v", info, err)
	}
}

func TestScansVisitEveryItemExactlyOnceWhateverTheSegments(t *testing.T) {
	t.Parallel()
	adm, db, table := adminTable(t)
	ctx := context.Background()
	const n = 300
	var items []seed.Item
	for i := range n {
		items = append(items, seed.Linked(fmt.Sprintf("hash-%03d", i), int64(1000+i), day1, nil)...)
	}
	put(t, db, table, items...)
	for _, segments := range []int{1, 3, 8} {
		t.Run(strconv.Itoa(segments)+" segments", func(t *testing.T) {
			seen := map[string]int{}
			var pages atomic.Int64
			err := adm.ScanMappings(ctx, store.ScanOptions{Segments: segments, Progress: func(int) { pages.Add(1) }}, false,
				func(m store.Mapping) error {
					seen[m.Hash]++
					if want := "hash-" + fmt.Sprintf("%03d", m.UserKey-1000); m.Hash != want {
						t.Errorf("mapping %s has userKey %d", m.Hash, m.UserKey)
					}
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if len(seen) != n {
				t.Fatalf("saw %d mappings, want %d", len(seen), n)
			}
			for h, k := range seen {
				if k != 1 {
					t.Errorf("%s seen %d times", h, k)
				}
			}
			if pages.Load() < int64(segments) {
				t.Errorf("%d pages reported for %d segments", pages.Load(), segments)
			}
			users := 0
			if err := adm.ScanUsers(ctx, store.ScanOptions{Segments: segments}, func(u store.User) error {
				if !u.Linked() {
					t.Errorf("user %d reads as %q", u.UserKey, u.State)
				}
				users++
				return nil
			}); err != nil || users != n {
				t.Fatalf("ScanUsers saw %d users (%v), want %d", users, err, n)
			}
		})
	}
}

func TestAScanStopsAtTheFirstErrorOfItsCallback(t *testing.T) {
	t.Parallel()
	adm, db, table := adminTable(t)
	var items []seed.Item
	for i := range 50 {
		items = append(items, seed.Linked(fmt.Sprintf("h%d", i), int64(i), day1, nil)...)
	}
	put(t, db, table, items...)
	stop := errors.New("stop here")
	calls := 0
	err := adm.ScanMappings(context.Background(), store.ScanOptions{Segments: 4}, false, func(store.Mapping) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("err %v after %d calls, want the callback's error after 1", err, calls)
	}
}

// stingy answers only the first half of each BatchGetItem's keys and returns the rest as
// UnprocessedKeys, as DynamoDB does when throttled.
type stingy struct {
	store.AdminAPI
	mu       sync.Mutex
	calls    int
	maxAsked int
}

func (s *stingy) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	for table, ka := range in.RequestItems {
		s.mu.Lock()
		s.calls++
		s.maxAsked = max(s.maxAsked, len(ka.Keys))
		s.mu.Unlock()
		if len(ka.Keys) < 2 {
			return s.AdminAPI.BatchGetItem(ctx, in, opts...)
		}
		half := len(ka.Keys) / 2
		first, rest := ka, ka
		first.Keys, rest.Keys = ka.Keys[:half], ka.Keys[half:]
		out, err := s.AdminAPI.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: first}}, opts...)
		if err != nil {
			return nil, err
		}
		out.UnprocessedKeys = map[string]types.KeysAndAttributes{table: rest}
		return out, nil
	}
	return &dynamodb.BatchGetItemOutput{}, nil
}

func TestUsersReadsAHundredKeysACallAndAsksAgainForUnprocessedOnes(t *testing.T) {
	t.Parallel()
	_, db, table := adminTable(t)
	var items []seed.Item
	var keys []int64
	for i := range 250 {
		keys = append(keys, int64(5000+i))
		if i%5 == 0 {
			continue // one in five has no item
		}
		if i%5 == 1 {
			items = append(items, seed.Unlinked(int64(5000+i), "", "UNLINK", day1))
			continue
		}
		items = append(items, seed.Linked(fmt.Sprintf("h-%d", i), int64(5000+i), day1, nil)...)
	}
	put(t, db, table, items...)
	api := &stingy{AdminAPI: db}
	adm := store.NewAdmin(api, table)
	found := map[int64]string{}
	var settled atomic.Int64
	err := adm.Users(context.Background(), keys, 3, func(u store.User) error {
		found[u.UserKey] = u.State
		return nil
	}, func(n int) { settled.Add(int64(n)) })
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 200 || settled.Load() != 250 {
		t.Fatalf("found %d users and settled %d keys, want 200 and 250", len(found), settled.Load())
	}
	for k, state := range found {
		want := store.StateLinked
		if (k-5000)%5 == 1 {
			want = store.StateUnlinked
		}
		if state != want {
			t.Errorf("user %d reads %q, want %q", k, state, want)
		}
	}
	if api.maxAsked > store.BatchGetLimit || api.calls <= 3 {
		t.Fatalf("%d calls asking for up to %d keys: want more than the 3 batches (retries) and at most %d keys each",
			api.calls, api.maxAsked, store.BatchGetLimit)
	}
}

var audit = store.Audit{Operator: "arn:aws:iam::123456789012:user/operator", Reason: "squatted hash, ticket 42"}

func TestUnmapDeletesTheHashAndLeavesAnAuditedMarker(t *testing.T) {
	t.Parallel()
	adm, db, table := adminTable(t)
	ctx := context.Background()
	put(t, db, table, append(seed.Linked("squatted", 70, day1, map[string]string{"name": "x"}),
		seed.Linked("other", 71, day1, map[string]string{"name": "y"})...)...)
	before := snapshot(t, db, table)
	start := time.Now()
	got, err := adm.Unmap(ctx, "squatted", audit)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != "squatted" || got.UserKey != 70 {
		t.Fatalf("Unmap = %+v", got)
	}
	after := snapshot(t, db, table)
	if _, ok := after["h#squatted"]; ok {
		t.Fatal("the hash's item survived")
	}
	marker := after["u#70"]
	at, err := time.Parse(time.RFC3339Nano, str(marker, "at"))
	if err != nil || len(str(marker, "at")) != len("2006-01-02T15:04:05.000000000Z") || at.Before(start.Add(-time.Second)) {
		t.Fatalf("marker time %q: %v", str(marker, "at"), err)
	}
	exp, _ := strconv.ParseInt(marker["expiresAt"].(*types.AttributeValueMemberN).Value, 10, 64)
	if want := at.Add(store.RemovedMarkerTTL).Unix(); exp != want {
		t.Errorf("expiresAt %d, want %d (at + %s)", exp, want, store.RemovedMarkerTTL)
	}
	wantKeys := []string{"at", "expiresAt", "operator", "pk", "reason", "removedHash", "state"}
	if keys := slices.Sorted(maps.Keys(marker)); !slices.Equal(keys, wantKeys) {
		t.Errorf("marker attributes %v, want exactly %v (nothing of the profile)", keys, wantKeys)
	}
	if str(marker, "state") != "removed" || str(marker, "removedHash") != "squatted" ||
		str(marker, "operator") != audit.Operator || str(marker, "reason") != audit.Reason {
		t.Errorf("marker %v", marker)
	}
	delete(before, "h#squatted")
	delete(before, "u#70")
	delete(after, "u#70")
	if !reflect.DeepEqual(before, after) {
		t.Fatal("unmap touched another mapping")
	}
}

func TestMovePointsTheUserAtTheNewHashAndKeepsItsProfile(t *testing.T) {
	t.Parallel()
	adm, db, table := adminTable(t)
	ctx := context.Background()
	put(t, db, table, seed.Linked("old-hash", 81, day1, map[string]string{"birthday": "19930324"})...)
	got, err := adm.Move(ctx, 81, "new-hash", audit)
	if err != nil {
		t.Fatal(err)
	}
	if got.Hash != "new-hash" || got.PreviousHash != "old-hash" || got.UserKey != 81 {
		t.Fatalf("Move = %+v", got)
	}
	after := snapshot(t, db, table)
	if len(after) != 2 {
		t.Fatalf("table holds %d items, want the two of the moved mapping: %v", len(after), slices.Sorted(maps.Keys(after)))
	}
	h, u := after["h#new-hash"], after["u#81"]
	if h["userKey"].(*types.AttributeValueMemberN).Value != "81" || str(h, "linkedAt") != got.At {
		t.Errorf("new hash item %v", h)
	}
	if p, ok := h["profile"].(*types.AttributeValueMemberM); !ok || str(p.Value, "birthday") != "19930324" {
		t.Errorf("the kept profile did not move: %v", h["profile"])
	}
	want := map[string]string{"state": "linked", "hash": "new-hash", "linkedAt": got.At, "previousHash": "old-hash",
		"operator": audit.Operator, "reason": audit.Reason, "pk": "u#81"}
	gotU := map[string]string{}
	for k := range u {
		gotU[k] = str(u, k)
	}
	if !reflect.DeepEqual(gotU, want) {
		t.Errorf("user item %v\nwant %v", gotU, want)
	}
	if m, _ := adm.ByHash(ctx, "new-hash"); m == nil || m.UserKey != 81 {
		t.Errorf("lookup of the new hash: %+v", m)
	}
}

func TestFixesRefuseAnythingAmbiguousAndWriteNothing(t *testing.T) {
	t.Parallel()
	adm, db, table := adminTable(t)
	ctx := context.Background()
	var items []seed.Item
	items = append(items, seed.Linked("mapped", 1, day1, nil)...)
	items = append(items, seed.Linked("taken", 2, day1, nil)...)
	items = append(items, seed.Unlinked(3, "was-mapped", "UNLINK", day1), seed.Removed(4, "squatted", "op", "r", day1))
	// A half mapping the store never writes: the hash names user 5, whose item names another hash.
	items = append(items, seed.Linked("half", 5, day1, nil)[0], seed.Linked("elsewhere", 5, day1, nil)[1])
	put(t, db, table, items...)

	tests := []struct {
		name string
		fix  func() error
		want error
	}{
		{"unmap of a hash that is not mapped", func() error { _, err := adm.Unmap(ctx, "nobody", audit); return err }, store.ErrNotMapped},
		{"unmap of an unlinked user's old hash", func() error { _, err := adm.Unmap(ctx, "was-mapped", audit); return err }, store.ErrNotMapped},
		{"unmap of a hash whose user points elsewhere", func() error { _, err := adm.Unmap(ctx, "half", audit); return err }, store.ErrInconsistent},
		{"unmap without a reason", func() error { _, err := adm.Unmap(ctx, "mapped", store.Audit{Operator: "op"}); return err }, nil},
		{"unmap without an operator", func() error { _, err := adm.Unmap(ctx, "mapped", store.Audit{Reason: "r"}); return err }, nil},
		{"unmap with a control character in the reason", func() error {
			_, err := adm.Unmap(ctx, "mapped", store.Audit{Operator: "op", Reason: "a\nb"})
			return err
		}, nil},
		{"move of a user with no item", func() error { _, err := adm.Move(ctx, 99, "fresh", audit); return err }, store.ErrNotLinked},
		{"move of an unlinked user", func() error { _, err := adm.Move(ctx, 3, "fresh", audit); return err }, store.ErrNotLinked},
		{"move of a removed user", func() error { _, err := adm.Move(ctx, 4, "fresh", audit); return err }, store.ErrNotLinked},
		{"move to a hash another user holds", func() error { _, err := adm.Move(ctx, 1, "taken", audit); return err }, store.ErrHashTaken},
		{"move to the hash the user already has", func() error { _, err := adm.Move(ctx, 1, "mapped", audit); return err }, store.ErrSameHash},
		{"move of a user whose hash item is missing", func() error { _, err := adm.Move(ctx, 5, "fresh", audit); return err }, store.ErrInconsistent},
		{"move to a blank hash", func() error { _, err := adm.Move(ctx, 1, "   ", audit); return err }, nil},
		{"move to an over-long hash", func() error { _, err := adm.Move(ctx, 1, strings.Repeat("h", 257), audit); return err }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, db, table)
			err := tt.fix()
			var input *apperr.InputError
			switch {
			case tt.want == nil && !errors.As(err, &input):
				t.Fatalf("got %v, want an input error", err)
			case tt.want != nil && !errors.Is(err, tt.want):
				t.Fatalf("got %v, want %v", err, tt.want)
			}
			if after := snapshot(t, db, table); !reflect.DeepEqual(before, after) {
				t.Fatal("a refused fix changed the table")
			}
		})
	}
}

// interfering runs change just before the fix's transaction reaches DynamoDB: the change lands
// between the fix's reads and its write, as a concurrent request would.
type interfering struct {
	store.AdminAPI
	change func()
	once   sync.Once
}

func (i *interfering) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	i.once.Do(i.change)
	return i.AdminAPI.TransactWriteItems(ctx, in, opts...)
}

func TestAFixLosesToAChangeBetweenItsReadAndItsWriteAndWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The concurrent changes write what the functions write (contract §10): an unlink replaces the
	// user's item by a tombstone and deletes the hash's item; a link creates both items.
	unlink := func(w *writer, userKey int64, hash string) error {
		return w.write(ctx, []seed.Item{seed.Unlinked(userKey, hash, "UNLINK", time.Now())}, "h#"+hash)
	}
	link := func(w *writer, hash string, userKey int64) error {
		return w.write(ctx, seed.Linked(hash, userKey, time.Now(), nil))
	}
	tests := []struct {
		name   string
		change func(w *writer, a *store.Admin) error
		fix    func(a *store.Admin) error
		want   error
	}{
		{"unmap while the unlink callback removes the user",
			func(w *writer, _ *store.Admin) error { return unlink(w, 1, "h1") },
			func(a *store.Admin) error { _, err := a.Unmap(ctx, "h1", audit); return err }, store.ErrChanged},
		{"unmap while the hash is unlinked and linked to another user",
			func(w *writer, _ *store.Admin) error {
				if err := unlink(w, 1, "h1"); err != nil {
					return err
				}
				return link(w, "h1", 77)
			},
			func(a *store.Admin) error { _, err := a.Unmap(ctx, "h1", audit); return err }, store.ErrChanged},
		{"move while the unlink callback removes the user",
			func(w *writer, _ *store.Admin) error { return unlink(w, 1, "h1") },
			func(a *store.Admin) error { _, err := a.Move(ctx, 1, "h-new", audit); return err }, store.ErrChanged},
		{"move while another user links the new hash",
			func(w *writer, _ *store.Admin) error { return link(w, "h-new", 88) },
			func(a *store.Admin) error { _, err := a.Move(ctx, 1, "h-new", audit); return err }, store.ErrHashTaken},
		{"move while another operator moves the same user",
			func(_ *writer, a *store.Admin) error { _, err := a.Move(ctx, 1, "h-other", audit); return err },
			func(a *store.Admin) error { _, err := a.Move(ctx, 1, "h-new", audit); return err }, store.ErrChanged},
		{"unmap while another operator unmaps the same hash",
			func(_ *writer, a *store.Admin) error { _, err := a.Unmap(ctx, "h1", audit); return err },
			func(a *store.Admin) error { _, err := a.Unmap(ctx, "h1", audit); return err }, store.ErrChanged},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := func() (*dynamodb.Client, string) {
				_, db, table := adminTable(t)
				put(t, db, table, append(seed.Linked("h1", 1, day1, nil), seed.Linked("h2", 2, day1, nil)...)...)
				return db, table
			}
			db, table := start()
			var changeErr error
			api := &interfering{AdminAPI: db, change: func() { changeErr = tt.change(&writer{db, table}, store.NewAdmin(db, table)) }}
			err := tt.fix(store.NewAdmin(api, table))
			if changeErr != nil {
				t.Fatalf("the concurrent change failed: %v", changeErr)
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("fix = %v, want %v", err, tt.want)
			}
			// The table must hold exactly what the concurrent change left: the same change on a
			// second table, without the fix, is the reference.
			db2, table2 := start()
			if err := tt.change(&writer{db2, table2}, store.NewAdmin(db2, table2)); err != nil {
				t.Fatal(err)
			}
			got, want := shape(snapshot(t, db, table)), shape(snapshot(t, db2, table2))
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("after the refused fix the table is\n%v\nwant what the change alone leaves\n%v", got, want)
			}
		})
	}
}

// writer makes the functions' writes directly, independent of the store's own API.
type writer struct {
	db    *dynamodb.Client
	table string
}

// write puts items and deletes the items of keys, in one transaction.
func (w *writer) write(ctx context.Context, items []seed.Item, deletes ...string) error {
	var tx []types.TransactWriteItem
	for _, it := range items {
		tx = append(tx, types.TransactWriteItem{Put: &types.Put{TableName: &w.table, Item: it}})
	}
	for _, pk := range deletes {
		tx = append(tx, types.TransactWriteItem{Delete: &types.Delete{TableName: &w.table,
			Key: seed.Item{"pk": &types.AttributeValueMemberS{Value: pk}}}})
	}
	_, err := w.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: tx})
	return err
}

// link is a link as the store makes it: both items, neither of which may exist yet (or the
// user's item is not linked). It reports false when the 1:1 rule refused it.
func (w *writer) link(ctx context.Context, hash string, userKey int64) (bool, error) {
	items := seed.Linked(hash, userKey, time.Now(), nil)
	_, err := w.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &w.table, Item: items[0], ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &types.Put{TableName: &w.table, Item: items[1], ConditionExpression: aws.String("attribute_not_exists(pk) OR #s <> :linked"),
			ExpressionAttributeNames:  map[string]string{"#s": "state"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":linked": &types.AttributeValueMemberS{Value: "linked"}}}},
	}})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		return false, nil
	}
	return err == nil, err
}

// shape is a snapshot without the moments of writing, which differ between two tables.
func shape(all map[string]seed.Item) map[string]map[string]string {
	out := map[string]map[string]string{}
	for pk, it := range all {
		m := map[string]string{}
		for k, v := range it {
			switch k {
			case "linkedAt", "at", "expiresAt":
				m[k] = "(time)"
			default:
				m[k] = fmt.Sprint(attr(v))
			}
		}
		out[pk] = m
	}
	return out
}

func attr(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return v.Value
	case *types.AttributeValueMemberM:
		m := map[string]any{}
		for k, e := range v.Value {
			m[k] = attr(e)
		}
		return m
	}
	return fmt.Sprintf("%T", v)
}

// Operators' fixes racing links and other fixes, request against request (devenv's proxy
// interleaves them one call at a time): whatever wins, the table stays one to one.
func TestFixesRacingLinksAndFixesKeepTheTableOneToOne(t *testing.T) {
	t.Parallel()
	adm, db, table := adminTable(t)
	ctx := context.Background()
	w := &writer{db, table}
	const users = 4
	for rep := range 5 {
		for u := range users {
			if _, err := w.link(ctx, fmt.Sprintf("r%d-u%d", rep, u), int64(rep*10+u)); err != nil {
				t.Fatal(err)
			}
		}
		errs := adminRace(24, func(i int) error {
			user := int64(rep*10 + i%users)
			var err error
			switch i % 3 {
			case 0:
				_, err = adm.Move(ctx, user, fmt.Sprintf("r%d-moved-%d", rep, i%5), audit)
			case 1:
				_, err = adm.Unmap(ctx, fmt.Sprintf("r%d-u%d", rep, i%users), audit)
			default:
				_, err = w.link(ctx, fmt.Sprintf("r%d-moved-%d", rep, i%5), int64(rep*10+users+i%3))
			}
			for _, refusal := range []error{store.ErrNotMapped, store.ErrNotLinked, store.ErrHashTaken, store.ErrSameHash,
				store.ErrChanged, apperr.ErrHashLinked, apperr.ErrUserLinked} {
				if errors.Is(err, refusal) {
					return nil
				}
			}
			return err
		})
		for _, err := range errs {
			if err != nil {
				t.Fatalf("rep %d: %v", rep, err)
			}
		}
	}
	all := snapshot(t, db, table)
	for pk, it := range all {
		switch {
		case strings.HasPrefix(pk, "h#"):
			uk := it["userKey"].(*types.AttributeValueMemberN).Value
			back := all["u#"+uk]
			if state := str(back, "state"); (state != "" && state != "linked") || str(back, "hash") != pk[2:] {
				t.Errorf("%s names user %s, whose item is %v", pk, uk, back)
			}
		case str(it, "state") == "linked" || (str(it, "state") == "" && str(it, "hash") != ""):
			fwd, ok := all["h#"+str(it, "hash")]
			if !ok || fwd["userKey"].(*types.AttributeValueMemberN).Value != pk[2:] {
				t.Errorf("%s is linked to %s, whose item is %v", pk, str(it, "hash"), fwd)
			}
		}
	}
}

// adminRace runs n calls of fn at once.
func adminRace(n int, fn func(i int) error) []error {
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
