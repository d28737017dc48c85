package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/store"
)

// Every shape a TransactWriteItems (or PutItem) outcome can take, against a scripted fake: each
// must map to exactly one truthful answer, and a race must be retried, never labelled.

type item = map[string]types.AttributeValue

// fakeDB answers TransactWriteItems and PutItem from scripts (the last entry repeats) and
// GetItem from items. It records every call.
type fakeDB struct {
	mu      sync.Mutex
	tx      []error
	put     []error
	getErr  error
	items   map[string]item
	txIn    []*dynamodb.TransactWriteItemsInput
	putIn   []*dynamodb.PutItemInput
	gets    int
	onWrite func() // runs after every write call (to change the items between attempts)
}

func next(script []error, i int) error {
	if len(script) == 0 {
		return nil
	}
	return script[min(i, len(script)-1)]
}

func (f *fakeDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	if f.getErr != nil {
		return nil, f.getErr
	}
	return &dynamodb.GetItemOutput{Item: f.items[in.Key["pk"].(*types.AttributeValueMemberS).Value]}, nil
}

func (f *fakeDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.putIn = append(f.putIn, in)
	err := next(f.put, len(f.putIn)-1)
	if f.onWrite != nil {
		f.onWrite()
	}
	return &dynamodb.PutItemOutput{}, err
}

func (f *fakeDB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.txIn = append(f.txIn, in)
	err := next(f.tx, len(f.txIn)-1)
	if f.onWrite != nil {
		f.onWrite()
	}
	return &dynamodb.TransactWriteItemsOutput{}, err
}

func cancelled(reasons ...types.CancellationReason) error {
	return &types.TransactionCanceledException{Message: aws.String("Transaction cancelled"), CancellationReasons: reasons}
}

func reason(code string, it item) types.CancellationReason {
	return types.CancellationReason{Code: aws.String(code), Item: it}
}

var (
	none = reason("None", nil)
	txc  = reason("TransactionConflict", nil)
)

func ccf(it item) types.CancellationReason { return reason("ConditionalCheckFailed", it) }

func S(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func N(v string) types.AttributeValue { return &types.AttributeValueMemberN{Value: v} }

// The instants of the shapes: the link began at started; "fresh" markers came after it.
var (
	started = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	before  = started.Add(-time.Minute).Format(store.TimeFormat)
	after   = started.Add(time.Millisecond).Format(store.TimeFormat)
)

func hashItem(userKey string) item {
	return item{"pk": S("h#the-hash"), "userKey": N(userKey), "linkedAt": S(before)}
}
func linkedTo(hash string) item {
	return item{"pk": S("u#7"), "state": S("linked"), "hash": S(hash), "linkedAt": S(before)}
}
func tombstone(at string) item {
	return item{"pk": S("u#7"), "state": S("unlinked"), "referrer": S("UNLINK"), "at": S(at), "expiresAt": N("9999999999")}
}
func removed(at string) item {
	return item{"pk": S("u#7"), "state": S("removed"), "removedHash": S("x"), "operator": S("op"), "reason": S("r"), "at": S(at), "expiresAt": N("9999999999")}
}

const attempts = 4 // store's bound on retries

func TestEveryCancellationShapeOfALinkHasOneTruthfulAnswer(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		tx      []error
		items   map[string]item // what a read-back finds
		want    error           // nil = success; apperr.ErrUnavailable = 503
		txCalls int
		gets    int
	}{
		{"committed", []error{nil}, nil, nil, 1, 0},
		{"the hash is another user's", []error{cancelled(ccf(hashItem("8")), none)}, nil, apperr.ErrHashLinked, 1, 0},
		{"the user has another hash", []error{cancelled(none, ccf(linkedTo("other")))}, nil, apperr.ErrUserLinked, 1, 0},
		{"both taken by others: the hash conflict is named", []error{cancelled(ccf(hashItem("8")), ccf(linkedTo("other")))}, nil, apperr.ErrHashLinked, 1, 0},
		{"this very pair is stored: success", []error{cancelled(ccf(hashItem("7")), ccf(linkedTo("the-hash")))}, nil, nil, 1, 0},
		{"a fresh tombstone: the unlink won", []error{cancelled(none, ccf(tombstone(after)))}, nil, apperr.ErrUnlinkedMeanwhile, 1, 0},
		{"a tombstone at the very start counts as after it", []error{cancelled(none, ccf(tombstone(started.Format(store.TimeFormat))))}, nil, apperr.ErrUnlinkedMeanwhile, 1, 0},
		{"a fresh operator removal", []error{cancelled(none, ccf(removed(after)))}, nil, apperr.ErrUnlinkedMeanwhile, 1, 0},
		{"hash taken and a fresh tombstone: the hash conflict is named", []error{cancelled(ccf(hashItem("8")), ccf(tombstone(after)))}, nil, apperr.ErrHashLinked, 1, 0},
		{"an item from before states existed counts as linked", []error{cancelled(none, ccf(item{"pk": S("u#7"), "hash": S("other")}))}, nil, apperr.ErrUserLinked, 1, 0},

		{"conflict beside a failed condition is retried", []error{cancelled(ccf(hashItem("8")), txc), nil}, nil, nil, 2, 0},
		{"conflict on the user beside a failed hash is retried", []error{cancelled(txc, ccf(linkedTo("other"))), cancelled(none, ccf(linkedTo("other")))}, nil, apperr.ErrUserLinked, 2, 0},
		{"a lone conflict is retried", []error{cancelled(txc, none), nil}, nil, nil, 2, 0},
		{"conflicts that never end are unavailable, not 409", []error{cancelled(ccf(hashItem("8")), txc)}, nil, apperr.ErrUnavailable, attempts, 0},

		{"no items returned: read back, the pair is stored", []error{cancelled(ccf(nil), ccf(nil))},
			map[string]item{"h#the-hash": hashItem("7"), "u#7": linkedTo("the-hash")}, nil, 1, 2},
		{"no items returned: read back, the hash is another's", []error{cancelled(ccf(nil), none)},
			map[string]item{"h#the-hash": hashItem("8")}, apperr.ErrHashLinked, 1, 1},
		{"no items returned: read back, a fresh tombstone", []error{cancelled(none, ccf(nil))},
			map[string]item{"u#7": tombstone(after)}, apperr.ErrUnlinkedMeanwhile, 1, 1},
		{"a read-back that finds nothing is never success", []error{cancelled(ccf(nil), ccf(nil))}, nil, apperr.ErrUnavailable, attempts, attempts},
		{"a read-back that finds nothing is retried", []error{cancelled(ccf(nil), ccf(nil)), nil}, nil, nil, 2, 1},

		{"the hash is ours but the user is free: not a state, retried then unavailable", []error{cancelled(ccf(hashItem("7")), none)}, nil, apperr.ErrUnavailable, attempts, 0},
		{"the user points here but the hash is free: retried then unavailable", []error{cancelled(none, ccf(linkedTo("the-hash")))}, nil, apperr.ErrUnavailable, attempts, 0},
		{"an old tombstone cannot fail the condition: retried then unavailable", []error{cancelled(none, ccf(tombstone(before)))}, nil, apperr.ErrUnavailable, attempts, 0},
		{"a throttled item is unavailable", []error{cancelled(reason("ThrottlingError", nil), none)}, nil, apperr.ErrUnavailable, 1, 0},
		{"a failed condition beside a throttled item gives no verdict", []error{cancelled(ccf(hashItem("8")), reason("ThrottlingError", nil))}, nil, apperr.ErrUnavailable, 1, 0},
		{"a cancellation with no failing reason is unavailable", []error{cancelled(none, none)}, nil, apperr.ErrUnavailable, 1, 0},
		{"a cancellation with the wrong number of reasons is unavailable", []error{cancelled(ccf(hashItem("8")))}, nil, apperr.ErrUnavailable, 1, 0},
		{"any other error is unavailable", []error{errors.New("InternalServerError")}, nil, apperr.ErrUnavailable, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db := &fakeDB{tx: c.tx, items: c.items}
			err := store.New(db, "t", store.WithClock(func() time.Time { return started.Add(time.Second) })).
				Link(context.Background(), "the-hash", 7, started, nil)
			switch {
			case c.want == nil && err != nil:
				t.Errorf("got %v, want success", err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("got %v, want %v", err, c.want)
			}
			for _, other := range []error{apperr.ErrHashLinked, apperr.ErrUserLinked, apperr.ErrUnlinkedMeanwhile, apperr.ErrUnavailable} {
				if other != c.want && errors.Is(err, other) {
					t.Errorf("the answer %v is also %v: one outcome, one answer", err, other)
				}
			}
			if len(db.txIn) != c.txCalls || db.gets != c.gets {
				t.Errorf("%d transactions and %d reads, want %d and %d", len(db.txIn), db.gets, c.txCalls, c.gets)
			}
		})
	}
}

func TestALinkWritesBothItemsWithTheTombstoneAwareCondition(t *testing.T) {
	t.Parallel()
	db := &fakeDB{}
	now := started.Add(1500 * time.Millisecond)
	if err := store.New(db, "t", store.WithClock(func() time.Time { return now })).
		Link(context.Background(), "the-hash", 7, started, map[string]string{"name": "kept"}); err != nil {
		t.Fatal(err)
	}
	if len(db.txIn) != 1 || len(db.txIn[0].TransactItems) != 2 {
		t.Fatalf("want one transaction of two items: %+v", db.txIn)
	}
	h, u := db.txIn[0].TransactItems[0].Put, db.txIn[0].TransactItems[1].Put
	if h == nil || u == nil {
		t.Fatal("both items must be puts")
	}
	if got := aws.ToString(h.ConditionExpression); got != "attribute_not_exists(pk)" {
		t.Errorf("hash condition %q", got)
	}
	if got := aws.ToString(u.ConditionExpression); got != "attribute_not_exists(pk) OR (#state <> :linked AND #at < :started)" {
		t.Errorf("user condition %q", got)
	}
	if got := u.ExpressionAttributeValues[":started"].(*types.AttributeValueMemberS).Value; got != "2026-12-01T10:00:00.000000000Z" {
		t.Errorf(":started = %q, want the link's start in the table's time format", got)
	}
	if got := u.Item["state"].(*types.AttributeValueMemberS).Value; got != "linked" {
		t.Errorf("user item state %q", got)
	}
	if _, ok := u.Item["profile"]; ok {
		t.Error("the user item (the source of events) carries the profile")
	}
	if _, ok := u.Item["expiresAt"]; ok {
		t.Error("a mapping must not expire")
	}
	if got := h.Item["linkedAt"].(*types.AttributeValueMemberS).Value; got != "2026-12-01T10:00:01.500000000Z" {
		t.Errorf("linkedAt %q, want nine fractional digits", got)
	}
	for _, p := range []*types.Put{h, u} {
		if p.ReturnValuesOnConditionCheckFailure != types.ReturnValuesOnConditionCheckFailureAllOld {
			t.Error("a failed condition must return the item it failed on")
		}
	}
}

func TestEveryShapeOfAnUnlinkWritesOneTombstoneOrNothing(t *testing.T) {
	t.Parallel()
	now := started
	cases := []struct {
		name      string
		items     map[string]item
		tx, put   []error
		onWrite   func(f *fakeDB) // what changes in the table after a failed write
		wantHash  string
		wantErr   error
		txs, puts int
	}{
		{name: "a linked user: one transaction", items: map[string]item{"u#7": linkedTo("the-hash")},
			wantHash: "the-hash", txs: 1},
		{name: "a never-linked user: one conditional put", wantHash: "", puts: 1},
		{name: "a repeat while the tombstone lives writes nothing", items: map[string]item{"u#7": tombstone(before)}},
		{name: "an expired tombstone is replaced by a fresh one",
			items: map[string]item{"u#7": {"pk": S("u#7"), "state": S("unlinked"), "at": S(before), "expiresAt": N("1")}}, puts: 1},
		{name: "an operator's removal marker is replaced by a tombstone", items: map[string]item{"u#7": removed(before)}, puts: 1},
		{name: "a link that committed before the put: read again, unlink it", put: []error{&types.ConditionalCheckFailedException{}},
			onWrite: func(f *fakeDB) { f.items = map[string]item{"u#7": linkedTo("the-hash")} }, wantHash: "the-hash", puts: 1, txs: 1},
		{name: "a twin unlink that won: read again, write nothing", items: map[string]item{"u#7": linkedTo("the-hash")},
			tx: []error{cancelled(ccf(nil), none)}, onWrite: func(f *fakeDB) { f.items = map[string]item{"u#7": tombstone(before)} }, txs: 1},
		{name: "a transaction conflict is retried", items: map[string]item{"u#7": linkedTo("the-hash")},
			tx: []error{cancelled(txc, none), nil}, wantHash: "the-hash", txs: 2},
		{name: "a race that never ends is unavailable", items: map[string]item{"u#7": linkedTo("the-hash")},
			tx: []error{cancelled(none, txc)}, wantErr: apperr.ErrUnavailable, txs: attempts},
		{name: "a throttled item is unavailable", items: map[string]item{"u#7": linkedTo("the-hash")},
			tx: []error{cancelled(reason("ThrottlingError", nil), none)}, wantErr: apperr.ErrUnavailable, txs: 1},
		{name: "a failed put is unavailable", put: []error{errors.New("InternalServerError")}, wantErr: apperr.ErrUnavailable, puts: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			db := &fakeDB{items: c.items, tx: c.tx, put: c.put}
			if c.onWrite != nil {
				db.onWrite = func() { c.onWrite(db) }
			}
			hash, err := store.New(db, "t", store.WithClock(func() time.Time { return now }), store.WithTombstoneTTL(time.Hour)).
				Unlink(context.Background(), 7, "WITHDRAWAL_TERMS")
			if hash != c.wantHash || !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
				t.Errorf("got %q %v, want %q %v", hash, err, c.wantHash, c.wantErr)
			}
			if len(db.txIn) != c.txs || len(db.putIn) != c.puts {
				t.Errorf("%d transactions and %d puts, want %d and %d", len(db.txIn), len(db.putIn), c.txs, c.puts)
			}
			var tombs []item
			for _, in := range db.txIn {
				tombs = append(tombs, in.TransactItems[0].Put.Item)
				if d := in.TransactItems[1].Delete; d == nil || d.Key["pk"].(*types.AttributeValueMemberS).Value != "h#the-hash" {
					t.Errorf("the transaction does not delete the hash item: %+v", in.TransactItems[1])
				}
			}
			for _, in := range db.putIn {
				tombs = append(tombs, in.Item)
			}
			for _, tomb := range tombs {
				if got := tomb["state"].(*types.AttributeValueMemberS).Value; got != "unlinked" {
					t.Errorf("tombstone state %q", got)
				}
				if got := tomb["referrer"].(*types.AttributeValueMemberS).Value; got != "WITHDRAWAL_TERMS" {
					t.Errorf("tombstone referrer %q", got)
				}
				if got := tomb["at"].(*types.AttributeValueMemberS).Value; got != "2026-12-01T10:00:00.000000000Z" {
					t.Errorf("tombstone at %q", got)
				}
				if got := tomb["expiresAt"].(*types.AttributeValueMemberN).Value; got != "1796122801" {
					t.Errorf("tombstone expiresAt %s, want now + 1 h (rounded up)", got)
				}
			}
		})
	}
}

func TestAnUnlinkPutNeverOverwritesWhatItDidNotRead(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		items map[string]item
		cond  string
	}{
		"no item":             {nil, "attribute_not_exists(pk)"},
		"an expired marker":   {map[string]item{"u#7": {"pk": S("u#7"), "state": S("unlinked"), "at": S(before), "expiresAt": N("1")}}, "attribute_exists(pk) AND #state = :state AND #at = :at"},
		"a marker with no at": {map[string]item{"u#7": {"pk": S("u#7"), "state": S("removed")}}, "attribute_exists(pk) AND #state = :state AND attribute_not_exists(#at)"},
	} {
		db := &fakeDB{items: c.items}
		if _, err := store.New(db, "t").Unlink(context.Background(), 7, "UNLINK"); err != nil {
			t.Fatal(name, err)
		}
		if len(db.putIn) != 1 || aws.ToString(db.putIn[0].ConditionExpression) != c.cond {
			t.Errorf("%s: put condition %q, want %q", name, aws.ToString(db.putIn[0].ConditionExpression), c.cond)
		}
	}
}

func TestATombstoneKeepsABoundedValidReferrer(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"UNLINK":                 "UNLINK",
		"":                       "",
		"bad\xffbyte":            "bad\uFFFDbyte",
		strings.Repeat("가", 30):  strings.Repeat("가", 21), // 63 bytes: a rune is never cut
		strings.Repeat("R", 100): strings.Repeat("R", store.MaxReferrerLen),
	} {
		db := &fakeDB{}
		if _, err := store.New(db, "t").Unlink(context.Background(), 7, in); err != nil {
			t.Fatal(err)
		}
		got := ""
		if v, ok := db.putIn[0].Item["referrer"].(*types.AttributeValueMemberS); ok {
			got = v.Value
		}
		if got != want {
			t.Errorf("referrer %q stored as %q, want %q", in, got, want)
		}
	}
}

func TestStatusIsOneGetItemOfTheHashItem(t *testing.T) {
	t.Parallel()
	db := &fakeDB{items: map[string]item{"h#the-hash": hashItem("7")}}
	ok, err := store.New(db, "t").IsMapped(context.Background(), "the-hash")
	if err != nil || !ok || db.gets != 1 || len(db.txIn)+len(db.putIn) != 0 {
		t.Fatalf("mapped %v %v after %d reads and %d writes, want one read", ok, err, db.gets, len(db.txIn)+len(db.putIn))
	}
}
