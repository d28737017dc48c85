// Package barefn is the baseline the bench holds our functions to: the AWS SDK calls a function
// makes per request and nothing of ours around them (no settings, domain, validation or error
// map). Its mains build the clients functions/*/main.go build, on the same SDK, and serve the same
// event type; the in-process baseline of the warm budget makes the same calls.
package barefn

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The keys the bare calls use: the fixtures' hash and Toss user (events/status.json, unlink-get.json).
const (
	Hash    = "demo-hash-1"
	UserKey = 443731104
)

// keyAttribute is keyAttribute; a test holds the bare calls to the store's, byte for byte.
const keyAttribute = "pk"

// DynamoDB is what the bare calls use of the client: store.DynamoDB.
type DynamoDB interface {
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
}

// GetHash is store.IsMapped's GetItem.
func GetHash(ctx context.Context, db DynamoDB, table, hash string) error {
	_, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(table),
		Key:                  map[string]types.AttributeValue{keyAttribute: &types.AttributeValueMemberS{Value: "h#" + hash}},
		ConsistentRead:       aws.Bool(true),
		ProjectionExpression: aws.String(keyAttribute),
	})
	return err
}

// Referrer is the fixtures' unlink referrer (events/unlink-get.json).
const Referrer = "UNLINK"

// Unlink is store.Unlink's GetItem and TransactWriteItems for a linked user, at now: the
// tombstone over the user's item and the delete of the hash's.
func Unlink(ctx context.Context, db DynamoDB, table string, userKey int64, referrer string, now time.Time) error {
	uk := strconv.FormatInt(userKey, 10)
	userItem := map[string]types.AttributeValue{keyAttribute: &types.AttributeValueMemberS{Value: "u#" + uk}}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(table), Key: userItem, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return err
	}
	h, _ := out.Item["hash"].(*types.AttributeValueMemberS)
	if h == nil {
		return errors.New("no hash in the item")
	}
	str := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	tomb := map[string]types.AttributeValue{
		keyAttribute: str("u#" + uk), "state": str("unlinked"), "unlinkedHash": str(h.Value), "referrer": str(referrer),
		"at":        str(now.UTC().Format("2006-01-02T15:04:05.000000000Z")),
		"expiresAt": &types.AttributeValueMemberN{Value: strconv.FormatInt(now.Add(24*time.Hour).Unix()+1, 10)},
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Put: &types.Put{TableName: aws.String(table), Item: tomb,
			ConditionExpression:       aws.String("(#state = :linked OR attribute_not_exists(#state)) AND #hash = :h"),
			ExpressionAttributeNames:  map[string]string{"#state": "state", "#hash": "hash"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":linked": str("linked"), ":h": str(h.Value)}}},
		{Delete: &types.Delete{TableName: aws.String(table),
			Key:                       map[string]types.AttributeValue{keyAttribute: str("h#" + h.Value)},
			ConditionExpression:       aws.String("attribute_not_exists(" + keyAttribute + ") OR #u = :u"),
			ExpressionAttributeNames:  map[string]string{"#u": "userKey"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberN{Value: uk}}}},
	}})
	return err
}

// Serve answers every event with a fixed 200 after the calls of the function BARE_CALLS names:
// "status" and "link" (a mapped hash) read the hash's item; "unlink" reads the secret once per
// process (readSecret; nil where the function has no Secrets Manager client), then reads and
// deletes the user's pair.
func Serve(db DynamoDB, readSecret func(context.Context) error) {
	table := os.Getenv("TABLE_NAME")
	var calls func(context.Context) error
	switch fn := os.Getenv("BARE_CALLS"); {
	case fn == "status" || fn == "link":
		calls = func(ctx context.Context) error { return GetHash(ctx, db, table, Hash) }
	case fn == "unlink" && readSecret != nil:
		var once sync.Mutex
		read := false
		calls = func(ctx context.Context) error {
			once.Lock()
			defer once.Unlock()
			if !read {
				if err := readSecret(ctx); err != nil {
					return err
				}
				read = true
			}
			return Unlink(ctx, db, table, UserKey, Referrer, time.Now())
		}
	default:
		fmt.Fprintf(os.Stderr, "barefn: BARE_CALLS=%q: want status, link or unlink (unlink needs the secrets variant)\n", fn)
		os.Exit(1)
	}
	lambda.Start(func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		if err := calls(ctx); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "{}"}, nil
	})
}
