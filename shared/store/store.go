// Package store keeps the hash <-> userKey mappings in one DynamoDB table and enforces, inside
// DynamoDB itself, that the mapping is one to one.
//
// Each mapping is two items in the same table, written and deleted together in one transaction:
//
//	pk = "h#<hash>"     userKey (N), linkedAt (S), profile (M, only the fields kept)
//	pk = "u#<userKey>"  hash (S)
//
// attribute_not_exists conditions on both items make a second hash for a user, or a second user
// for a hash, impossible even when requests race.
package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
)

// KeyAttribute is the table's partition key (type S). The template and the local setup create it.
const KeyAttribute = "pk"

// DynamoDB is the part of the SDK client the store uses.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

var _ DynamoDB = (*dynamodb.Client)(nil)

// Table is the mapping store.
type Table struct {
	db   DynamoDB
	name string
	now  func() time.Time
}

// New returns a store on the named table.
func New(db DynamoDB, table string) *Table {
	return &Table{db: db, name: table, now: time.Now}
}

// attempts bounds the retries of a transaction that lost a race (TransactionConflict, or an unlink
// whose item changed between its read and its delete). Each retry re-checks its conditions, so
// retrying can never break the 1:1 rule.
const attempts = 4

func hashKey(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: "h#" + hash}}
}

func userKeyKey(userKey int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{KeyAttribute: &types.AttributeValueMemberS{Value: "u#" + strconv.FormatInt(userKey, 10)}}
}

// IsMapped reports whether hash has a mapping. The read is strongly consistent: a player who just
// linked must not be told otherwise on the next game start.
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

// Link stores hash <-> userKey with the profile fields to keep. The same pair again succeeds and
// changes nothing; a hash or userKey already paired otherwise yields apperr.ErrHashLinked or
// apperr.ErrUserLinked and nothing is written.
func (t *Table) Link(ctx context.Context, hash string, userKey int64, profile map[string]string) error {
	hashItem := hashKey(hash)
	hashItem["userKey"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(userKey, 10)}
	hashItem["linkedAt"] = &types.AttributeValueMemberS{Value: t.now().UTC().Format(time.RFC3339)}
	if len(profile) > 0 {
		m := make(map[string]types.AttributeValue, len(profile))
		for k, v := range profile {
			m[k] = &types.AttributeValueMemberS{Value: v}
		}
		hashItem["profile"] = &types.AttributeValueMemberM{Value: m}
	}
	userItem := userKeyKey(userKey)
	userItem["hash"] = &types.AttributeValueMemberS{Value: hash}

	notExists := aws.String("attribute_not_exists(" + KeyAttribute + ")")
	in := &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: &t.name, Item: hashItem, ConditionExpression: notExists,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
		{Put: &types.Put{TableName: &t.name, Item: userItem, ConditionExpression: notExists,
			ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld}},
	}}

	for try := 1; ; try++ {
		_, err := t.db.TransactWriteItems(ctx, in)
		if err == nil {
			return nil
		}
		var cancelled *types.TransactionCanceledException
		if !errors.As(err, &cancelled) {
			return unavailable("write mapping", err)
		}
		reasons := cancelled.CancellationReasons
		if hasCode(reasons, "ConditionalCheckFailed") {
			return t.explainConflict(ctx, hash, userKey, reasons)
		}
		if hasCode(reasons, "TransactionConflict") && try < attempts {
			if err := pause(ctx, try); err != nil {
				return unavailable("write mapping", err)
			}
			continue
		}
		return unavailable("write mapping", err)
	}
}

// explainConflict turns a failed condition into the rule it protects. The same pair already stored
// is success (link is idempotent). DynamoDB returns the old items with the cancellation; when an
// implementation does not, they are read back.
func (t *Table) explainConflict(ctx context.Context, hash string, userKey int64, reasons []types.CancellationReason) error {
	var hashItem, userItem map[string]types.AttributeValue
	hashFailed := len(reasons) > 0 && aws.ToString(reasons[0].Code) == "ConditionalCheckFailed"
	userFailed := len(reasons) > 1 && aws.ToString(reasons[1].Code) == "ConditionalCheckFailed"
	if hashFailed {
		hashItem = reasons[0].Item
		if hashItem == nil {
			var err error
			if hashItem, err = t.get(ctx, hashKey(hash)); err != nil {
				return err
			}
		}
	}
	if userFailed {
		userItem = reasons[1].Item
		if userItem == nil {
			var err error
			if userItem, err = t.get(ctx, userKeyKey(userKey)); err != nil {
				return err
			}
		}
	}
	if hashItem != nil && numAttr(hashItem, "userKey") != strconv.FormatInt(userKey, 10) {
		return fmt.Errorf("link: %w", apperr.ErrHashLinked)
	}
	if userItem != nil && strAttr(userItem, "hash") != hash {
		return fmt.Errorf("link: %w", apperr.ErrUserLinked)
	}
	if hashFailed && userFailed {
		return nil // this very pair is already stored
	}
	// One item of the pair exists and agrees while the other does not exist: an unlink of this
	// pair is half way through its transaction from our point of view. Report a conflict rather
	// than guess; the client may retry.
	return fmt.Errorf("link: %w", apperr.ErrHashLinked)
}

// Unlink removes every trace of userKey: its item and its hash's item, in one transaction. An
// unknown userKey is not an error (Toss's console test sends 0, and callbacks may repeat). It
// returns the hash that was unlinked, or "" when there was none.
func (t *Table) Unlink(ctx context.Context, userKey int64) (string, error) {
	uk := strconv.FormatInt(userKey, 10)
	for try := 1; ; try++ {
		item, err := t.get(ctx, userKeyKey(userKey))
		if err != nil {
			return "", err
		}
		if item == nil {
			return "", nil
		}
		hash := strAttr(item, "hash")
		_, err = t.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: &t.name, Key: userKeyKey(userKey),
				ConditionExpression:       aws.String("#h = :h"),
				ExpressionAttributeNames:  map[string]string{"#h": "hash"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: hash}}}},
			{Delete: &types.Delete{TableName: &t.name, Key: hashKey(hash),
				ConditionExpression:       aws.String("#u = :u"),
				ExpressionAttributeNames:  map[string]string{"#u": "userKey"},
				ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberN{Value: uk}}}},
		}})
		if err == nil {
			return hash, nil
		}
		var cancelled *types.TransactionCanceledException
		retryable := errors.As(err, &cancelled) &&
			(hasCode(cancelled.CancellationReasons, "ConditionalCheckFailed") || hasCode(cancelled.CancellationReasons, "TransactionConflict"))
		if !retryable || try >= attempts {
			return "", unavailable("delete mapping", err)
		}
		// The pair changed between the read and the delete: read again and delete what is there now.
		if err := pause(ctx, try); err != nil {
			return "", unavailable("delete mapping", err)
		}
	}
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

func hasCode(reasons []types.CancellationReason, code string) bool {
	for _, r := range reasons {
		if aws.ToString(r.Code) == code {
			return true
		}
	}
	return false
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
