package barefn_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/cmd/bench/barefn"
	"github.com/tossgame/migration-server/shared/store"
)

// recorder keeps every request; GetItem finds the fixtures' pair.
type recorder struct{ calls []any }

func (r *recorder) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.calls = append(r.calls, in)
	return &dynamodb.GetItemOutput{Item: map[string]types.AttributeValue{
		store.KeyAttribute: &types.AttributeValueMemberS{Value: "u#443731104"},
		"hash":             &types.AttributeValueMemberS{Value: barefn.Hash},
	}}, nil
}

func (r *recorder) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	r.calls = append(r.calls, in)
	return &dynamodb.PutItemOutput{}, nil
}

func (r *recorder) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	r.calls = append(r.calls, in)
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// The baseline is only fair if it sends what the store sends.
func TestTheBareCallsSendExactlyWhatTheStoreSends(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	at := time.Date(2026, 12, 1, 9, 30, 0, 123456789, time.UTC)
	for _, c := range []struct {
		name        string
		bare, store func(*recorder) error
	}{
		{"status and link: the hash's item",
			func(r *recorder) error { return barefn.GetHash(ctx, r, "t", barefn.Hash) },
			func(r *recorder) error { _, err := store.New(r, "t").IsMapped(ctx, barefn.Hash); return err }},
		{"unlink: the user's item, then the pair's delete",
			func(r *recorder) error { return barefn.Unlink(ctx, r, "t", barefn.UserKey, barefn.Referrer, at) },
			func(r *recorder) error {
				_, err := store.New(r, "t", store.WithClock(func() time.Time { return at })).Unlink(ctx, barefn.UserKey, barefn.Referrer)
				return err
			}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var bare, ours recorder
			if err := c.bare(&bare); err != nil {
				t.Fatal(err)
			}
			if err := c.store(&ours); err != nil {
				t.Fatal(err)
			}
			if len(ours.calls) == 0 || !reflect.DeepEqual(bare.calls, ours.calls) {
				t.Errorf("bare calls %#v\nstore calls %#v", bare.calls, ours.calls)
			}
		})
	}
}
