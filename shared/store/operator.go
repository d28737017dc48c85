package store

// Operator fixes (contract §7, §10): unmap a hash, or move a user to a new hash. Each is one
// transaction whose conditions restate everything the fix was decided on, so a change that lands
// between the operator's read and the write cancels the whole fix. The u# item each writes is
// what the stream turns into MappingRemoved or MappingMoved.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Why a fix was refused. Nothing is written in any of these cases.
var (
	ErrNotMapped    = errors.New("the hash is not mapped")
	ErrNotLinked    = errors.New("the user is not linked")
	ErrHashTaken    = errors.New("the new hash is already mapped")
	ErrSameHash     = errors.New("the user is already mapped to that hash")
	ErrInconsistent = errors.New("the hash's item and the user's item disagree")
	ErrChanged      = errors.New("the mapping changed while the fix was written (a concurrent link, unlink or fix)")
)

// RemovedMarkerTTL is how long unmap's marker keeps the bare userKey, the removed hash, the
// operator and the reason (plus DynamoDB's TTL deletion lag). Like the unlink tombstone, it
// outlives any link that started before it, which it therefore cancels.
const RemovedMarkerTTL = 24 * time.Hour

// Audit is who applied a fix and why; both travel into the item and the event.
type Audit struct {
	Operator string // the caller's identity (an IAM ARN)
	Reason   string
}

// Limits of the audit fields: they end up in events a studio's backend reads.
const (
	MaxOperatorLen = 2048 // IAM ARNs reach 2048 characters
	MaxReasonLen   = 500
	// MaxHashLen is the partner API's bound on a hash (httpapi.MaxHashLen).
	MaxHashLen = 256
)

func (a Audit) check() error {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"operator", a.Operator, MaxOperatorLen}, {"reason", a.Reason, MaxReasonLen},
	} {
		if err := CheckText(f.name, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

// CheckText accepts a required free-text value: at most max bytes of valid UTF-8, no control or
// invisible format characters (they would make logs and consoles lie).
func CheckText(name, v string, max int) error {
	if v == "" {
		return apperr.Input(name + " is required")
	}
	if len(v) > max {
		return apperr.Input(fmt.Sprintf("%s is longer than %d bytes", name, max))
	}
	if !utf8.ValidString(v) {
		return apperr.Input(name + " is not valid UTF-8")
	}
	for _, r := range v {
		if unicode.IsControl(r) || r == utf8.RuneError || unicode.Is(unicode.Cf, r) {
			return apperr.Input(name + " contains a control or invisible character")
		}
	}
	return nil
}

// Stamp formats a moment as every time in the table is written (contract §10): UTC, nine
// fractional digits, so that strings compare as times.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

// Unmapped is what Unmap removed.
type Unmapped struct {
	Hash    string
	UserKey int64
	At      string
}

// Unmap deletes h#<hash> and turns its user's item into a removed marker, in one transaction.
// It refuses (with the errors above, writing nothing) a hash that is not mapped, a user item that
// does not point back at the hash, and any change between its read and its write.
func (a *Admin) Unmap(ctx context.Context, hash string, audit Audit) (Unmapped, error) {
	if err := audit.check(); err != nil {
		return Unmapped{}, err
	}
	m, err := a.ByHash(ctx, hash)
	if err != nil {
		return Unmapped{}, err
	}
	if m == nil {
		return Unmapped{}, fmt.Errorf("unmap: %w", ErrNotMapped)
	}
	u, err := a.ByUserKey(ctx, m.UserKey)
	if err != nil {
		return Unmapped{}, err
	}
	if !u.Linked() || u.Hash != hash {
		// The two reads are not one snapshot: a write between them is a change, not a table
		// that disagrees with itself. Only a hash item that still names this user says so.
		if again, err := a.ByHash(ctx, hash); err != nil {
			return Unmapped{}, err
		} else if again == nil || again.UserKey != m.UserKey || again.LinkedAt != m.LinkedAt {
			return Unmapped{}, fmt.Errorf("unmap: %w", ErrChanged)
		}
		return Unmapped{}, fmt.Errorf("unmap: %w: h#%s names userKey %d, whose item %s", ErrInconsistent, hash, m.UserKey, describeUser(u))
	}
	now := a.now()
	at := Stamp(now)
	marker := userKeyKey(m.UserKey)
	marker["state"] = &types.AttributeValueMemberS{Value: StateRemoved}
	marker["removedHash"] = &types.AttributeValueMemberS{Value: hash}
	marker["operator"] = &types.AttributeValueMemberS{Value: audit.Operator}
	marker["reason"] = &types.AttributeValueMemberS{Value: audit.Reason}
	marker["at"] = &types.AttributeValueMemberS{Value: at}
	marker["expiresAt"] = &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(RemovedMarkerTTL).Unix(), 10)}

	_, err = a.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &a.name, Key: hashKey(hash), ConditionExpression: aws.String("#u = :u"),
			ExpressionAttributeNames:  map[string]string{"#u": "userKey"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": numValue(m.UserKey)}}},
		{Put: &types.Put{TableName: &a.name, Item: marker, ConditionExpression: stillLinked,
			ExpressionAttributeNames:  stillLinkedNames,
			ExpressionAttributeValues: stillLinkedValues(hash)}},
	}})
	if err != nil {
		return Unmapped{}, fixFailed("unmap", err, nil)
	}
	return Unmapped{Hash: hash, UserKey: m.UserKey, At: at}, nil
}

// Moved is what Move wrote.
type Moved struct {
	UserKey      int64
	Hash         string
	PreviousHash string
	At           string
}

// Move maps userKey to newHash instead of its current hash, in one transaction: h#<old> deleted,
// h#<new> created (keeping the kept profile fields), u# pointed at the new hash with the previous
// hash, operator and reason. It refuses (writing nothing) a user who is not linked, a new hash
// that is mapped (to anyone), a current hash whose item does not point back, and any change
// between its reads and its write.
func (a *Admin) Move(ctx context.Context, userKey int64, newHash string, audit Audit) (Moved, error) {
	if err := audit.check(); err != nil {
		return Moved{}, err
	}
	if err := CheckText("hash", newHash, MaxHashLen); err != nil {
		return Moved{}, err
	}
	if strings.TrimSpace(newHash) == "" {
		return Moved{}, apperr.Input("hash is blank")
	}
	u, err := a.ByUserKey(ctx, userKey)
	if err != nil {
		return Moved{}, err
	}
	if !u.Linked() {
		return Moved{}, fmt.Errorf("move: %w: its item %s", ErrNotLinked, describeUser(u))
	}
	old := u.Hash
	if old == newHash {
		return Moved{}, fmt.Errorf("move: %w", ErrSameHash)
	}
	m, err := a.ByHash(ctx, old)
	if err != nil {
		return Moved{}, err
	}
	if m == nil || m.UserKey != userKey {
		// As in Unmap: a write between the two reads is a change, not an inconsistency.
		if again, err := a.ByUserKey(ctx, userKey); err != nil {
			return Moved{}, err
		} else if !again.Linked() || again.Hash != old || again.LinkedAt != u.LinkedAt {
			return Moved{}, fmt.Errorf("move: %w", ErrChanged)
		}
		return Moved{}, fmt.Errorf("move: %w: u#%d names a hash whose item is missing or names another user", ErrInconsistent, userKey)
	}
	if taken, err := a.ByHash(ctx, newHash); err != nil {
		return Moved{}, err
	} else if taken != nil {
		return Moved{}, fmt.Errorf("move: %w", ErrHashTaken)
	}

	at := Stamp(a.now())
	hashItem := hashKey(newHash)
	hashItem["userKey"] = numValue(userKey)
	hashItem["linkedAt"] = &types.AttributeValueMemberS{Value: at}
	if len(m.Profile) > 0 {
		p := make(map[string]types.AttributeValue, len(m.Profile))
		for k, v := range m.Profile {
			p[k] = &types.AttributeValueMemberS{Value: v}
		}
		hashItem["profile"] = &types.AttributeValueMemberM{Value: p}
	}
	userItem := userKeyKey(userKey)
	userItem["state"] = &types.AttributeValueMemberS{Value: StateLinked}
	userItem["hash"] = &types.AttributeValueMemberS{Value: newHash}
	userItem["linkedAt"] = &types.AttributeValueMemberS{Value: at}
	userItem["previousHash"] = &types.AttributeValueMemberS{Value: old}
	userItem["operator"] = &types.AttributeValueMemberS{Value: audit.Operator}
	userItem["reason"] = &types.AttributeValueMemberS{Value: audit.Reason}

	_, err = a.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: &a.name, Key: hashKey(old), ConditionExpression: aws.String("#u = :u"),
			ExpressionAttributeNames:  map[string]string{"#u": "userKey"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": numValue(userKey)}}},
		{Put: &types.Put{TableName: &a.name, Item: hashItem, ConditionExpression: aws.String("attribute_not_exists(#pk)"),
			ExpressionAttributeNames: map[string]string{"#pk": KeyAttribute}}},
		{Put: &types.Put{TableName: &a.name, Item: userItem, ConditionExpression: stillLinked,
			ExpressionAttributeNames:  stillLinkedNames,
			ExpressionAttributeValues: stillLinkedValues(old)}},
	}})
	if err != nil {
		// The new hash's put is the second action: its failure alone means someone took it.
		return Moved{}, fixFailed("move", err, map[int]error{1: ErrHashTaken})
	}
	return Moved{UserKey: userKey, Hash: newHash, PreviousHash: old, At: at}, nil
}

// stillLinked holds when u# is still linked to :hash (an item from before §10's states has only
// the hash).
var (
	stillLinked      = aws.String("#hash = :hash AND (attribute_not_exists(#state) OR #state = :linked)")
	stillLinkedNames = map[string]string{"#hash": "hash", "#state": "state"}
)

func stillLinkedValues(hash string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		":hash":   &types.AttributeValueMemberS{Value: hash},
		":linked": &types.AttributeValueMemberS{Value: StateLinked},
	}
}

func numValue(n int64) *types.AttributeValueMemberN {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

// fixFailed explains a cancelled fix: a failed condition or a conflicting transaction is a change
// that happened since the read (or, for the actions in only, the refusal named there). Nothing
// was written either way: DynamoDB applies all of a transaction or none of it.
func fixFailed(op string, err error, only map[int]error) error {
	var cancelled *types.TransactionCanceledException
	if !errors.As(err, &cancelled) {
		return unavailable(op, err)
	}
	reasons := cancelled.CancellationReasons
	failed := -1
	for i, r := range reasons {
		switch aws.ToString(r.Code) {
		case "ConditionalCheckFailed", "TransactionConflict":
			if failed >= 0 {
				return fmt.Errorf("%s: %w", op, ErrChanged)
			}
			failed = i
		}
	}
	if failed < 0 {
		return unavailable(op, err)
	}
	if e, ok := only[failed]; ok && aws.ToString(reasons[failed].Code) == "ConditionalCheckFailed" {
		return fmt.Errorf("%s: %w", op, e)
	}
	return fmt.Errorf("%s: %w", op, ErrChanged)
}

func describeUser(u *User) string {
	switch {
	case u == nil:
		return "does not exist"
	case u.State == StateLinked:
		return "is linked to another hash"
	case u.State == "":
		return "has no state"
	default:
		return "is " + u.State
	}
}
