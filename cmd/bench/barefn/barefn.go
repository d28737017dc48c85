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

// Unlink is store.Unlink's GetItem and TransactWriteItems.
func Unlink(ctx context.Context, db DynamoDB, table string, userKey int64) error {
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
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: aws.String(table), Key: userItem,
			ConditionExpression:       aws.String("#h = :h"),
			ExpressionAttributeNames:  map[string]string{"#h": "hash"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: h.Value}}}},
		{Delete: &types.Delete{TableName: aws.String(table),
			Key:                       map[string]types.AttributeValue{keyAttribute: &types.AttributeValueMemberS{Value: "h#" + h.Value}},
			ConditionExpression:       aws.String("#u = :u"),
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
			return Unlink(ctx, db, table, UserKey)
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
