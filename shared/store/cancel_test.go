package store_test

// Every way TransactWriteItems can cancel a link or an unlink, with a fake DynamoDB (no server):
// DynamoDB Local does not produce TransactionConflict on demand, and real DynamoDB's mixed
// reasons are rare, so these answers are otherwise never exercised. Each outcome must map to one
// truthful answer (issue 10 §2): success only when the mapping is stored, a conflict label only
// when another mapping holds the key, a retry when the reasons say the race is not decided.

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/store"
)

// Reason codes, as DynamoDB names them in CancellationReasons.
const (
	cxCcf    = "ConditionalCheckFailed"
	conflict = "TransactionConflict"
	cxNone   = "None"
)

// reason is one entry of CancellationReasons; item is the old item DynamoDB returns with a
// failed condition when ReturnValuesOnConditionCheckFailure is ALL_OLD (nil: not returned).
type cxReason struct {
	code string
	item map[string]types.AttributeValue
}

// cancelled builds the error the SDK returns for a cancelled transaction.
func cxCancelled(reasons ...cxReason) error {
	rs := make([]types.CancellationReason, len(reasons))
	codes := ""
	for i, r := range reasons {
		rs[i] = types.CancellationReason{Code: aws.String(r.code), Item: r.item}
		if r.code == cxCcf {
			rs[i].Message = aws.String("The conditional request failed")
		}
		if i > 0 {
			codes += ", "
		}
		codes += r.code
	}
	msg := "Transaction cancelled, please refer cancellation reasons for specific reasons [" + codes + "]"
	return fmt.Errorf("operation error DynamoDB: TransactWriteItems, %w",
		&types.TransactionCanceledException{Message: &msg, CancellationReasons: rs})
}

// fakeDB answers TransactWriteItems from a script, in order (a nil answer commits the
// transaction into items), and GetItem from items.
type cxFakeDB struct {
	t       *testing.T
	mu      sync.Mutex
	script  []error
	repeat  error // answered once the script is used up (nil: the test fails on a further call)
	items   map[string]map[string]types.AttributeValue
	writes  []*dynamodb.TransactWriteItemsInput
	commits int
	gets    int
}

func cxNewFake(t *testing.T, script ...error) *cxFakeDB {
	return &cxFakeDB{t: t, script: script, items: map[string]map[string]types.AttributeValue{}}
}

func (f *cxFakeDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.writes = append(f.writes, in)
	if len(f.writes) > 50 {
		f.t.Errorf("TransactWriteItems called %d times: the retries never stop", len(f.writes))
		return nil, errors.New("fake: too many calls")
	}
	var answer error
	switch i := len(f.writes) - 1; {
	case i < len(f.script):
		answer = f.script[i]
	case f.repeat != nil:
		answer = f.repeat
	default:
		f.t.Errorf("TransactWriteItems call %d: the script has %d answers", i+1, len(f.script))
		return nil, errors.New("fake: unscripted call")
	}
	if answer != nil {
		return nil, answer
	}
	for _, w := range in.TransactItems {
		switch {
		case w.Put != nil:
			f.items[pkOf(w.Put.Item)] = w.Put.Item
		case w.Delete != nil:
			delete(f.items, pkOf(w.Delete.Key))
		case w.Update != nil:
			f.t.Errorf("the fake does not apply updates")
		}
	}
	f.commits++
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

func (f *cxFakeDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gets++
	return &dynamodb.GetItemOutput{Item: f.items[pkOf(in.Key)]}, nil
}

func pkOf(item map[string]types.AttributeValue) string {
	if s, ok := item[store.KeyAttribute].(*types.AttributeValueMemberS); ok {
		return s.Value
	}
	return ""
}

// Old items as the table holds them. The u# item carries contract §10's state too, so that
// these fixtures read the same before and after the tombstone schema.
func cxHashItem(hash string, userKey int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		store.KeyAttribute: &types.AttributeValueMemberS{Value: hashPK(hash)},
		"userKey":          &types.AttributeValueMemberN{Value: strconv.FormatInt(userKey, 10)},
		"linkedAt":         &types.AttributeValueMemberS{Value: "2026-01-02T03:04:05.000000000Z"},
	}
}

func userItem(userKey int64, hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		store.KeyAttribute: &types.AttributeValueMemberS{Value: userPK(userKey)},
		"state":            &types.AttributeValueMemberS{Value: "linked"},
		"hash":             &types.AttributeValueMemberS{Value: hash},
		"linkedAt":         &types.AttributeValueMemberS{Value: "2026-01-02T03:04:05.000000000Z"},
	}
}

// The link under test is always hash "H" for user 7; "other" and 8 hold the other sides.
const (
	linkHash = "H"
	linkUser = int64(7)
)

// stored reports whether the fake holds the whole mapping H <-> 7.
func (f *cxFakeDB) stored() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return partnerOf(hashPK(linkHash), f.items[hashPK(linkHash)]) == "7" &&
		partnerOf(userPK(linkUser), f.items[userPK(linkUser)]) == linkHash
}

func (f *cxFakeDB) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.writes)
}

func link(f *cxFakeDB) error {
	return newRealStore(cxFakeRaw{f}, "table").Link(context.Background(), linkHash, linkUser)
}

// fakeRaw lets the fake stand where the race suite's adapters want a rawDB; the store itself
// calls only what store.DynamoDB declares.
type cxFakeRaw struct{ *cxFakeDB }

func (cxFakeRaw) PutItem(context.Context, *dynamodb.PutItemInput, ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	return nil, errors.New("fake: PutItem not scripted")
}
func (cxFakeRaw) DeleteItem(context.Context, *dynamodb.DeleteItemInput, ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	return nil, errors.New("fake: DeleteItem not scripted")
}
func (cxFakeRaw) TransactGetItems(context.Context, *dynamodb.TransactGetItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	return nil, errors.New("fake: TransactGetItems not scripted")
}

// Truthful answers.

func wantSuccessStored(t *testing.T, f *cxFakeDB, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("link: %v, want success", err)
	}
	if !f.stored() {
		t.Fatalf("link answered success, but the mapping is not stored (%d writes, %d committed)", f.calls(), f.commits)
	}
}

func wantConflict(t *testing.T, f *cxFakeDB, err, label error) {
	t.Helper()
	if !errors.Is(err, label) {
		t.Fatalf("link: %v, want %v", err, label)
	}
	if f.commits != 0 {
		t.Fatalf("a conflicting link committed %d writes", f.commits)
	}
}

// wantUnavailable: when the store cannot tell, it says so (503: the client may try again);
// it never invents a conflict or a success.
func wantUnavailable(t *testing.T, f *cxFakeDB, err error) {
	t.Helper()
	if !errors.Is(err, apperr.ErrUnavailable) || errors.Is(err, apperr.ErrHashLinked) || errors.Is(err, apperr.ErrUserLinked) {
		t.Fatalf("link: %v, want ErrUnavailable and no conflict label", err)
	}
}

// --- [CCF, CCF] ---

func TestCancelBothConditionsFailOnThisVeryPair(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{cxCcf, cxHashItem(linkHash, linkUser)}, cxReason{cxCcf, userItem(linkUser, linkHash)}))
	f.items[hashPK(linkHash)], f.items[userPK(linkUser)] = cxHashItem(linkHash, linkUser), userItem(linkUser, linkHash)
	err := link(f)
	wantSuccessStored(t, f, err)
	if f.calls() != 1 {
		t.Fatalf("%d transactions for a pair already stored, want 1", f.calls())
	}
}

func TestCancelBothConditionsFailOnOtherMappings(t *testing.T) {
	// The hash belongs to user 8 and user 7 to hash "other": both labels are true; the store
	// must give one of them, commit nothing, and not retry a decided race.
	f := cxNewFake(t, cxCancelled(cxReason{cxCcf, cxHashItem(linkHash, 8)}, cxReason{cxCcf, userItem(linkUser, "other")}))
	err := link(f)
	if !errors.Is(err, apperr.ErrHashLinked) && !errors.Is(err, apperr.ErrUserLinked) {
		t.Fatalf("link: %v, want HASH_ALREADY_LINKED or USER_ALREADY_LINKED", err)
	}
	if f.calls() != 1 || f.commits != 0 {
		t.Fatalf("%d transactions, %d committed; want 1 and 0", f.calls(), f.commits)
	}
}

func TestCancelBothConditionsFailWithoutOldItemsReadsBack(t *testing.T) {
	// An implementation that returns no old items: the store may read them back or try again
	// (here the second try's cancellation carries them); either way the answer is the truth.
	for _, tc := range []struct {
		name       string
		hash, user map[string]types.AttributeValue
		want       error // nil: success
	}{
		{"this very pair", cxHashItem(linkHash, linkUser), userItem(linkUser, linkHash), nil},
		{"hash held by another user", cxHashItem(linkHash, 8), userItem(8, linkHash), apperr.ErrHashLinked},
		{"user held by another hash", cxHashItem("other", linkUser), userItem(linkUser, "other"), apperr.ErrUserLinked},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := cxNewFake(t, cxCancelled(cxReason{cxCcf, nil}, cxReason{cxCcf, nil}),
				cxCancelled(cxReason{cxCcf, tc.hash}, cxReason{cxCcf, tc.user}))
			for _, it := range []map[string]types.AttributeValue{tc.hash, tc.user} {
				f.items[pkOf(it)] = it
			}
			err := link(f)
			if tc.want == nil {
				wantSuccessStored(t, f, err)
			} else {
				wantConflict(t, f, err, tc.want)
			}
		})
	}
}

func TestCancelBothConditionsFailButTheReadBackFindsNothing(t *testing.T) {
	// Both conditions failed, no old items came with the cancellation, and by the read-back an
	// unlink has removed the pair. Nothing is stored, so "success" would be a lie: the truthful
	// answers are a retry that stores it (scripted to succeed here) or "unavailable".
	f := cxNewFake(t, cxCancelled(cxReason{cxCcf, nil}, cxReason{cxCcf, nil}), nil)
	err := link(f)
	if errors.Is(err, apperr.ErrUnavailable) {
		return
	}
	wantSuccessStored(t, f, err)
}

// --- one condition fails, the other item is fine ---

func TestCancelHashConditionFails(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{cxCcf, cxHashItem(linkHash, 8)}, cxReason{cxNone, nil}))
	wantConflict(t, f, link(f), apperr.ErrHashLinked)
}

func TestCancelUserConditionFails(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{cxNone, nil}, cxReason{cxCcf, userItem(linkUser, "other")}))
	wantConflict(t, f, link(f), apperr.ErrUserLinked)
}

// --- mixed: a condition failure beside a transaction conflict ---

func TestCancelMixedReasonsWithAnotherUsersHashIsDecided(t *testing.T) {
	// The hash belongs to user 8: whatever happens to u#7, this link cannot succeed (the store
	// may try once more to let the conflict settle; the second answer says the same).
	f := cxNewFake(t, cxCancelled(cxReason{cxCcf, cxHashItem(linkHash, 8)}, cxReason{conflict, nil}),
		cxCancelled(cxReason{cxCcf, cxHashItem(linkHash, 8)}, cxReason{cxNone, nil}))
	wantConflict(t, f, link(f), apperr.ErrHashLinked)
}

func TestCancelMixedReasonsWithAnotherHashsUserIsDecided(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{conflict, nil}, cxReason{cxCcf, userItem(linkUser, "other")}),
		cxCancelled(cxReason{cxNone, nil}, cxReason{cxCcf, userItem(linkUser, "other")}))
	wantConflict(t, f, link(f), apperr.ErrUserLinked)
}

func TestCancelMixedReasonsOnThisPairsHashIsRetried(t *testing.T) {
	// h#H already points at user 7 (this pair), and u#7 is in another transaction (an unlink
	// of this pair, or its twin link): nothing says the hash is taken by someone else, so a
	// 409 would be false. The retry decides: here it finds the pair stored.
	f := cxNewFake(t,
		cxCancelled(cxReason{cxCcf, cxHashItem(linkHash, linkUser)}, cxReason{conflict, nil}),
		cxCancelled(cxReason{cxCcf, cxHashItem(linkHash, linkUser)}, cxReason{cxCcf, userItem(linkUser, linkHash)}))
	f.items[hashPK(linkHash)], f.items[userPK(linkUser)] = cxHashItem(linkHash, linkUser), userItem(linkUser, linkHash)
	err := link(f)
	wantSuccessStored(t, f, err)
	if f.calls() < 2 {
		t.Fatalf("%d transaction(s): the undecided race was not retried", f.calls())
	}
}

func TestCancelMixedReasonsOnThisPairsUserIsRetried(t *testing.T) {
	f := cxNewFake(t,
		cxCancelled(cxReason{conflict, nil}, cxReason{cxCcf, userItem(linkUser, linkHash)}),
		nil)
	err := link(f)
	wantSuccessStored(t, f, err)
	if f.calls() < 2 {
		t.Fatalf("%d transaction(s): the undecided race was not retried", f.calls())
	}
}

// --- transaction conflicts: retried, with the same conditions ---

func TestCancelConflictOnTheHashIsRetried(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{conflict, nil}, cxReason{cxNone, nil}), nil)
	wantSuccessStored(t, f, link(f))
	wantSameRetry(t, f)
}

func TestCancelConflictOnTheUserIsRetried(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{cxNone, nil}, cxReason{conflict, nil}), nil)
	wantSuccessStored(t, f, link(f))
	wantSameRetry(t, f)
}

// wantSameRetry: a retry re-checks the very conditions the first attempt had, so retrying can
// never break the 1:1 rule.
func wantSameRetry(t *testing.T, f *cxFakeDB) {
	t.Helper()
	if f.calls() != 2 {
		t.Fatalf("%d transactions, want the first and one retry", f.calls())
	}
	if !reflect.DeepEqual(f.writes[0], f.writes[1]) {
		t.Fatalf("the retry differs from the first attempt:\n%+v\n%+v", f.writes[0], f.writes[1])
	}
}

func TestCancelConflictsUntilRetriesAreExhausted(t *testing.T) {
	f := cxNewFake(t)
	f.repeat = cxCancelled(cxReason{conflict, nil}, cxReason{conflict, nil})
	err := link(f)
	wantUnavailable(t, f, err)
	if f.calls() < 2 {
		t.Fatalf("%d transaction(s): a conflict was not retried", f.calls())
	}
	if f.commits != 0 {
		t.Fatal("nothing can have been committed")
	}
}

func TestCancelConflictRetryStopsWhenTheCallerGivesUp(t *testing.T) {
	f := cxNewFake(t)
	f.repeat = cxCancelled(cxReason{conflict, nil}, cxReason{cxNone, nil})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := newRealStore(cxFakeRaw{f}, "table").Link(ctx, linkHash, linkUser)
	wantUnavailable(t, f, err)
	if f.calls() > 1 {
		t.Fatalf("%d transactions after the caller's context ended, want at most 1", f.calls())
	}
}

// --- reasons that are not about the mapping ---

func TestCancelForThrottlingIsUnavailable(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{"ThrottlingError", nil}, cxReason{cxNone, nil}))
	f.repeat = cxCancelled(cxReason{"ThrottlingError", nil}, cxReason{cxNone, nil})
	wantUnavailable(t, f, link(f))
}

func TestTransactWriteErrorIsUnavailable(t *testing.T) {
	f := cxNewFake(t, errors.New("connection reset by peer"))
	wantUnavailable(t, f, link(f))
}

// --- unlink ---

func unlink(f *cxFakeDB) (string, error) {
	return newRealStore(cxFakeRaw{f}, "table").Unlink(context.Background(), linkUser)
}

func TestCancelUnlinkConflictIsRetried(t *testing.T) {
	f := cxNewFake(t, cxCancelled(cxReason{conflict, nil}, cxReason{cxNone, nil}), nil)
	f.items[hashPK(linkHash)], f.items[userPK(linkUser)] = cxHashItem(linkHash, linkUser), userItem(linkUser, linkHash)
	hash, err := unlink(f)
	if err != nil || hash != linkHash {
		t.Fatalf("unlink: %q %v, want %q", hash, err, linkHash)
	}
	if f.calls() != 2 || partnerOf(hashPK(linkHash), f.items[hashPK(linkHash)]) != "" || partnerOf(userPK(linkUser), f.items[userPK(linkUser)]) != "" {
		t.Fatalf("%d transactions, items left %v", f.calls(), f.items)
	}
}

func TestCancelUnlinkConflictsUntilRetriesAreExhausted(t *testing.T) {
	f := cxNewFake(t)
	f.repeat = cxCancelled(cxReason{conflict, nil}, cxReason{cxNone, nil})
	f.items[hashPK(linkHash)], f.items[userPK(linkUser)] = cxHashItem(linkHash, linkUser), userItem(linkUser, linkHash)
	if _, err := unlink(f); !errors.Is(err, apperr.ErrUnavailable) {
		t.Fatalf("unlink: %v, want ErrUnavailable", err)
	}
	if f.calls() < 2 || f.commits != 0 {
		t.Fatalf("%d transactions, %d committed: want retries and no commit", f.calls(), f.commits)
	}
}
