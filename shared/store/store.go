// Package store keeps the hash <-> userKey mappings in one DynamoDB table and enforces, inside
// DynamoDB itself, that the mapping is one to one and that an unlink wins over a link in flight.
//
// The items (docs/contract.md §10):
//
//	pk = "h#<hash>"     userKey (N), linkedAt (S), profile (M, only the fields kept)
//	pk = "u#<userKey>"  state "linked":   hash (S), linkedAt (S)
//	                    state "unlinked": unlinkedHash (S, absent for a never-linked user),
//	                                      referrer (S), at (S), expiresAt (N, the table's TTL)
//
// A link writes both items in one transaction; an unlink replaces the user's item by a
// short-lived tombstone and deletes the hash item in one transaction. The table's stream of u#
// items is the source of the studio's events (package publish), so every write here is exactly
// one committed fact and nothing is ever written twice.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
)

// KeyAttribute is the table's partition key (type S). The template and the local setup create it.
const KeyAttribute = "pk"

// TTLAttribute is the table's time-to-live attribute (epoch seconds).
const TTLAttribute = "expiresAt"

// TimeFormat is every time the table holds: UTC, exactly nine fractional digits, so that string
// order is time order (the link's condition compares them as strings).
const TimeFormat = "2006-01-02T15:04:05.000000000Z"

// States of a u# item.
const (
	StateLinked   = "linked"
	StateUnlinked = "unlinked" // the unlink tombstone
	StateRemoved  = "removed"  // an operator's removal marker
)

// DefaultTombstoneTTL is how long an unlink's tombstone keeps the userKey: far above the link
// function's 10 s timeout, which bounds the race the tombstone decides.
const DefaultTombstoneTTL = 24 * time.Hour

// MaxReferrerLen bounds the referrer a tombstone keeps (bytes; Toss's values are short words).
const MaxReferrerLen = 64

// DynamoDB is the part of the SDK client the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Table is the mapping store.
type Table struct {
	db           DynamoDB
	name         string
	now          func() time.Time
	tombstoneTTL time.Duration
}

// Option adjusts a Table.
type Option func(*Table)

// WithTombstoneTTL sets how long an unlink's tombstone lives (TOMBSTONE_TTL).
func WithTombstoneTTL(d time.Duration) Option { return func(t *Table) { t.tombstoneTTL = d } }

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(t *Table) { t.now = now } }

// New returns a store on the named table.
func New(db DynamoDB, table string, opts ...Option) *Table {
	t := &Table{db: db, name: table, now: time.Now, tombstoneTTL: DefaultTombstoneTTL}
	for _, o := range opts {
		o(t)
	}
	return t
}

// attempts bounds the retries of a write that lost a race (TransactionConflict, or an item that
// changed between a read and a write). Each retry re-checks its conditions, so retrying can never
// break a rule; when they run out the answer is "unavailable, try again", never a guess.
const attempts = 4

// Cancellation reason codes of TransactWriteItems.
const (
	codeNone       = "None"
	codeCondition  = "ConditionalCheckFailed"
	codeTxConflict = "TransactionConflict"
)

func hashKey(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: "h#" + hash}}
}

func userKeyKey(userKey int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: "u#" + strconv.FormatInt(userKey, 10)}}
}

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// IsMapped reports whether hash has a mapping: one strongly consistent GetItem of the hash item
// (a player who just linked must not be told otherwise on the next game start).
func (t *Table) IsMapped(ctx context.Context, hash string) (bool, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            &t.name,
		Key:                  hashKey(hash),
		ConsistentRead:       aws.Bool(true),
		ProjectionExpression: aws.String(KeyAttribute),
	})
	if err != nil {
		return false, unavailable("read mapping", err)
	}
	return out.Item != nil, nil
}

// Link stores hash <-> userKey with the profile fields to keep. started is when the link began,
// taken before its first Toss call: an unlink of this user that committed at or after it makes
// the link write nothing and answer apperr.ErrUnlinkedMeanwhile. The same pair again succeeds
// and changes nothing; a hash or userKey already paired otherwise yields apperr.ErrHashLinked
// or apperr.ErrUserLinked and nothing is written.
func (t *Table) Link(ctx context.Context, hash string, userKey int64, started time.Time, profile map[string]string) error {
	at := t.now().UTC().Format(TimeFormat)
	hashItem := hashKey(hash)
	hashItem["userKey"] = n(userKey)
	hashItem["linkedAt"] = s(at)
	if len(profile) > 0 {
		m := make(map[string]types.AttributeValue, len(profile))
		for k, v := range profile {
			m[k] = s(v)
		}
		hashItem["profile"] = &types.AttributeValueMemberM{Value: m}
	}
	userItem := userKeyKey(userKey)
	userItem["state"] = s(StateLinked)
	userItem["hash"] = s(hash)
	userItem["linkedAt"] = s(at)

	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &t.name, Item: hashItem,
			ConditionExpression:                 aws.String("attribute_not_exists(" + KeyAttribute + ")"),
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		// A tombstone (or removal marker) older than this link's start is replaced; a newer
		// one means the user withdrew consent while this link talked to Toss.
		{Put: &types.Put{TableName: &t.name, Item: userItem,
			ConditionExpression:                 aws.String("attribute_not_exists(" + KeyAttribute + ") OR (#state <> :linked AND #at < :started)"),
			ExpressionAttributeNames:            map[string]string{"#state": "state", "#at": "at"},
			ExpressionAttributeValues:           map[string]types.AttributeValue{":linked": s(StateLinked), ":started": s(started.UTC().Format(TimeFormat))},
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
	}}

	var last error
	for try := 1; try <= attempts; try++ {
		if try > 1 {
			if err := pause(ctx, try-1); err != nil {
				return unavailable("write mapping", err)
			}
		}
		_, err := t.db.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var cancelled *types.TransactionCanceledException
		if !errors.As(err, &cancelled) {
			return unavailable("write mapping", err)
		}
		v, err := t.linkVerdict(ctx, hash, userKey, started, cancelled.CancellationReasons)
		if v != retry {
			return err
		}
		last = err
	}
	return unavailable("write mapping", fmt.Errorf("%d attempts lost a race: %w", attempts, last))
}

type verdict int

const (
	answer verdict = iota // the returned error (nil = success) is the link's answer
	retry                 // nothing can be concluded: write again
)

// linkVerdict turns one cancellation of the link's transaction into exactly one truthful answer.
// Only a cancellation whose every reason is None or ConditionalCheckFailed says anything about
// the items; a TransactionConflict anywhere (even beside a failed condition, which may be the
// conflicting writer's half-seen state) is retried, and any other reason is "unavailable".
func (t *Table) linkVerdict(ctx context.Context, hash string, userKey int64, started time.Time, reasons []types.CancellationReason) (verdict, error) {
	if len(reasons) != 2 {
		return answer, unavailable("write mapping", fmt.Errorf("cancelled with %d reasons for 2 items", len(reasons)))
	}
	var failed [2]bool
	for i, r := range reasons {
		switch code := aws.ToString(r.Code); code {
		case "", codeNone:
		case codeCondition:
			failed[i] = true
		case codeTxConflict:
			return retry, fmt.Errorf("item %d: %s", i, code)
		default:
			return answer, unavailable("write mapping", fmt.Errorf("cancelled: item %d: %s", i, code))
		}
	}
	if !failed[0] && !failed[1] {
		return answer, unavailable("write mapping", errors.New("cancelled without a reason"))
	}

	// DynamoDB returns the items whose condition failed (ALL_OLD); an implementation that does
	// not gets them read back. A read-back is a later snapshot: finding nothing there proves
	// nothing, so it is retried, never reported as success.
	var hashItem, userItem map[string]types.AttributeValue
	if failed[0] {
		if hashItem = reasons[0].Item; hashItem == nil {
			var err error
			if hashItem, err = t.get(ctx, hashKey(hash)); err != nil {
				return answer, err
			}
			if hashItem == nil {
				return retry, errors.New("hash item gone on read-back")
			}
		}
	}
	if failed[1] {
		if userItem = reasons[1].Item; userItem == nil {
			var err error
			if userItem, err = t.get(ctx, userKeyKey(userKey)); err != nil {
				return answer, err
			}
			if userItem == nil {
				return retry, errors.New("user item gone on read-back")
			}
		}
	}

	ours := strconv.FormatInt(userKey, 10)
	state := stateOf(userItem)
	switch {
	case failed[0] && numAttr(hashItem, "userKey") != ours:
		return answer, fmt.Errorf("link: %w", apperr.ErrHashLinked)
	case failed[1] && state == StateLinked && strAttr(userItem, "hash") != hash:
		return answer, fmt.Errorf("link: %w", apperr.ErrUserLinked)
	case failed[1] && state != StateLinked && strAttr(userItem, "at") >= started.UTC().Format(TimeFormat):
		return answer, fmt.Errorf("link: %w", apperr.ErrUnlinkedMeanwhile)
	case failed[0] && failed[1] && state == StateLinked:
		return answer, nil // this very pair is already stored (a repeat, or a twin that won)
	default:
		// One item agrees and the other does not exist or does not fail: not a state the
		// transactions can leave. Write again rather than guess.
		return retry, fmt.Errorf("inconsistent cancellation (hash item failed %v, user item failed %v, state %q)", failed[0], failed[1], state)
	}
}

// Unlink removes every trace of userKey's mapping and leaves the tombstone whose stream record
// tells the studio (contract §10): one transaction for a linked user, one conditional put for a
// user with no mapping (Toss's console test sends 0, and the studio may still hold that user's
// legacy data). A repeat while the tombstone lives writes nothing. It returns the hash that was
// unlinked, or "" when there was none.
func (t *Table) Unlink(ctx context.Context, userKey int64, referrer string) (string, error) {
	referrer = boundReferrer(referrer)
	var last error
	for try := 1; try <= attempts; try++ {
		if try > 1 {
			if err := pause(ctx, try-1); err != nil {
				return "", unavailable("unlink", err)
			}
		}
		item, err := t.get(ctx, userKeyKey(userKey))
		if err != nil {
			return "", err
		}
		now := t.now()
		state := stateOf(item)
		if state == StateUnlinked && !expired(item, now) {
			return "", nil // the callback repeated: the first one's tombstone says it all
		}
		tomb := userKeyKey(userKey)
		tomb["state"] = s(StateUnlinked)
		tomb["at"] = s(now.UTC().Format(TimeFormat))
		tomb[TTLAttribute] = n(now.Add(t.tombstoneTTL).Unix() + 1)
		if referrer != "" {
			tomb["referrer"] = s(referrer)
		}

		var hash string
		if state == StateLinked {
			hash = strAttr(item, "hash")
			tomb["unlinkedHash"] = s(hash)
			_, err = t.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
				{Put: &types.Put{TableName: &t.name, Item: tomb,
					ConditionExpression:       aws.String("(#state = :linked OR attribute_not_exists(#state)) AND #hash = :h"),
					ExpressionAttributeNames:  map[string]string{"#state": "state", "#hash": "hash"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":linked": s(StateLinked), ":h": s(hash)}}},
				// An absent hash item is tolerated: it cannot block the deletion of the rest.
				{Delete: &types.Delete{TableName: &t.name, Key: hashKey(hash),
					ConditionExpression:       aws.String("attribute_not_exists(" + KeyAttribute + ") OR #u = :u"),
					ExpressionAttributeNames:  map[string]string{"#u": "userKey"},
					ExpressionAttributeValues: map[string]types.AttributeValue{":u": n(userKey)}}},
			}})
		} else {
			// No mapping: the item is absent, an expired tombstone or a removal marker. The put
			// requires it unchanged since the read, so two racing repeats write one tombstone
			// and a link that committed meanwhile is seen on the next read.
			cond, names, values := unchanged(item)
			_, err = t.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &t.name, Item: tomb,
				ConditionExpression: aws.String(cond), ExpressionAttributeNames: names, ExpressionAttributeValues: values})
		}
		if err == nil {
			return hash, nil
		}
		if !lostRace(err) {
			return "", unavailable("unlink", err)
		}
		last = err // the item changed between the read and the write: read again
	}
	return "", unavailable("unlink", fmt.Errorf("%d attempts lost a race: %w", attempts, last))
}

// unchanged is the condition "the user item is as read": absent, or the same state and time.
func unchanged(item map[string]types.AttributeValue) (string, map[string]string, map[string]types.AttributeValue) {
	if item == nil {
		return "attribute_not_exists(" + KeyAttribute + ")", nil, nil
	}
	names := map[string]string{"#state": "state", "#at": "at"}
	values := map[string]types.AttributeValue{}
	var parts []string
	for _, a := range []string{"state", "at"} {
		if v, ok := item[a].(*types.AttributeValueMemberS); ok {
			parts = append(parts, "#"+a+" = :"+a)
			values[":"+a] = s(v.Value)
		} else {
			parts = append(parts, "attribute_not_exists(#"+a+")")
		}
	}
	if len(values) == 0 {
		values = nil
	}
	return "attribute_exists(" + KeyAttribute + ") AND " + strings.Join(parts, " AND "), names, values
}

// lostRace reports whether a write failed only because the items changed under it.
func lostRace(err error) bool {
	var cond *types.ConditionalCheckFailedException
	if errors.As(err, &cond) {
		return true
	}
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) || len(cancelled.CancellationReasons) == 0 {
		return false
	}
	lost := false
	for _, r := range cancelled.CancellationReasons {
		switch aws.ToString(r.Code) {
		case "", codeNone:
		case codeCondition, codeTxConflict:
			lost = true
		default:
			return false
		}
	}
	return lost
}

// stateOf is the state of a u# item; "" for none. An item from before states existed (a hash and
// no state) is a mapping.
func stateOf(item map[string]types.AttributeValue) string {
	if item == nil {
		return ""
	}
	st := strAttr(item, "state")
	if st == "" && strAttr(item, "hash") != "" {
		return StateLinked
	}
	return st
}

// expired reports whether a marker's TTL has passed (DynamoDB deletes it some time after).
func expired(item map[string]types.AttributeValue, now time.Time) bool {
	exp, err := strconv.ParseInt(numAttr(item, TTLAttribute), 10, 64)
	return err == nil && exp <= now.Unix()
}

// boundReferrer keeps what Toss sent as far as DynamoDB and the studio can take it: valid UTF-8,
// at most MaxReferrerLen bytes. A deletion is never refused over its referrer.
func boundReferrer(r string) string {
	r = strings.ToValidUTF8(r, "\uFFFD")
	for len(r) > MaxReferrerLen {
		_, size := utf8.DecodeLastRuneInString(r)
		r = r[:len(r)-size]
	}
	return r
}

// Mapping is what the store holds for a hash, for tests and operators.
type Mapping struct {
	Hash     string
	UserKey  int64
	LinkedAt string
	Profile  map[string]string
}

// Get returns the mapping of hash, or nil.
func (t *Table) Get(ctx context.Context, hash string) (*Mapping, error) {
	item, err := t.get(ctx, hashKey(hash))
	if err != nil || item == nil {
		return nil, err
	}
	uk, err := strconv.ParseInt(numAttr(item, "userKey"), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("store: item for hash has a bad userKey: %w", err)
	}
	m := &Mapping{Hash: hash, UserKey: uk, LinkedAt: strAttr(item, "linkedAt")}
	if p, ok := item["profile"].(*types.AttributeValueMemberM); ok {
		m.Profile = make(map[string]string, len(p.Value))
		for k, v := range p.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				m.Profile[k] = s.Value
			}
		}
	}
	return m, nil
}

func (t *Table) get(ctx context.Context, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := t.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &t.name, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, unavailable("read mapping", err)
	}
	return out.Item, nil
}

func strAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberS); ok {
		return v.Value
	}
	return ""
}

func numAttr(item map[string]types.AttributeValue, name string) string {
	if v, ok := item[name].(*types.AttributeValueMemberN); ok {
		return v.Value
	}
	return ""
}

// unavailable keeps the SDK error for the log while classifying it for the HTTP layer.
func unavailable(op string, err error) error {
	return fmt.Errorf("store: %s: %w: %w", op, apperr.ErrUnavailable, err)
}

// pause backs off briefly between retries, and gives up when the caller's deadline is near.
func pause(ctx context.Context, try int) error {
	t := time.NewTimer(time.Duration(try*try) * 5 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
