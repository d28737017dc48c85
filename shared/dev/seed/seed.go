// Package seed writes items straight into a mapping table, in the shapes of contract §10, and
// fast (BatchWriteItem, several calls at once): the fixtures of migrationctl's tests and the
// 100,000 mappings of its benchmark. It bypasses the store's conditions, so it can also write
// what the store never would (a half mapping), to test that operators are told.
package seed

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Item is one table item.
type Item = map[string]types.AttributeValue

// Stamp formats a time as the table does: UTC with nine fractional digits.
func Stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func s(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
func n(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// Linked is a mapping as link writes it: h#<hash> and u#<userKey> in state linked.
func Linked(hash string, userKey int64, linkedAt time.Time, profile map[string]string) []Item {
	h := Item{"pk": s("h#" + hash), "userKey": n(userKey), "linkedAt": s(Stamp(linkedAt))}
	if len(profile) > 0 {
		p := Item{}
		for k, v := range profile {
			p[k] = s(v)
		}
		h["profile"] = &types.AttributeValueMemberM{Value: p}
	}
	u := Item{"pk": s("u#" + strconv.FormatInt(userKey, 10)), "state": s("linked"), "hash": s(hash), "linkedAt": s(Stamp(linkedAt))}
	return []Item{h, u}
}

// LegacyLinked is a mapping as the store wrote it before §10: the u# item holds only the hash.
func LegacyLinked(hash string, userKey int64, linkedAt time.Time) []Item {
	return []Item{
		{"pk": s("h#" + hash), "userKey": n(userKey), "linkedAt": s(linkedAt.UTC().Format(time.RFC3339))},
		{"pk": s("u#" + strconv.FormatInt(userKey, 10)), "hash": s(hash)},
	}
}

// Unlinked is the unlink callback's tombstone; hash "" for a user who was never linked.
func Unlinked(userKey int64, hash, referrer string, at time.Time) Item {
	it := Item{"pk": s("u#" + strconv.FormatInt(userKey, 10)), "state": s("unlinked"), "referrer": s(referrer),
		"at": s(Stamp(at)), "expiresAt": n(expires(at))}
	if hash != "" {
		it["unlinkedHash"] = s(hash)
	}
	return it
}

// Removed is migrationctl unmap's marker.
func Removed(userKey int64, hash, operator, reason string, at time.Time) Item {
	return Item{"pk": s("u#" + strconv.FormatInt(userKey, 10)), "state": s("removed"), "removedHash": s(hash),
		"operator": s(operator), "reason": s(reason), "at": s(Stamp(at)), "expiresAt": n(expires(at))}
}

// Writer is the call Write makes.
type Writer interface {
	BatchWriteItem(ctx context.Context, in *dynamodb.BatchWriteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchWriteItemOutput, error)
}

// Write puts items into table, 25 a call (BatchWriteItem's limit), workers calls at once,
// sending unprocessed items again until none are left.
func Write(ctx context.Context, db Writer, table string, items []Item, workers int) error {
	batches := make(chan []Item)
	errs := make(chan error, max(workers, 1))
	var wg sync.WaitGroup
	for range max(workers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for batch := range batches {
				if err := writeBatch(ctx, db, table, batch); err != nil {
					errs <- err
					for range batches {
					}
					return
				}
			}
		}()
	}
	for i := 0; i < len(items); i += 25 {
		batches <- items[i:min(i+25, len(items))]
	}
	close(batches)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func writeBatch(ctx context.Context, db Writer, table string, batch []Item) error {
	reqs := make([]types.WriteRequest, len(batch))
	for i, it := range batch {
		reqs[i] = types.WriteRequest{PutRequest: &types.PutRequest{Item: it}}
	}
	in := map[string][]types.WriteRequest{table: reqs}
	for try := 0; len(in[table]) > 0; try++ {
		out, err := db.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: in})
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		in = out.UnprocessedItems
		if len(in[table]) > 0 {
			time.Sleep(time.Duration(min(try+1, 10)) * 20 * time.Millisecond)
		}
	}
	return nil
}

// expires is a marker's TTL: a day after at, and never before a day from now, because DynamoDB
// Local, like DynamoDB, sweeps items whose TTL has passed in real time, and fixtures use fixed dates.
func expires(at time.Time) int64 {
	if now := time.Now(); at.Before(now) {
		at = now
	}
	return at.Add(24 * time.Hour).Unix()
}
