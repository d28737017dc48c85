package main

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	stypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/streams"
	"github.com/tossgame/migration-server/shared/store"
)

// The events function's real bootstrap, given a DynamoDB stream batch of the table's own records,
// publishes them to the local bus (read back from the queue) and reports a record it cannot turn
// into an event, with everything after it, as batch item failures.
func TestTheEventsBinaryPublishesAStreamBatchAndReportsWhatItCannot(t *testing.T) {
	// The stack's own poller consumes the stream without publishing: the binary is the only
	// publisher here.
	quiet := func(streams.Handler) streams.Handler {
		return func(context.Context, events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			return events.DynamoDBEventResponse{}, nil
		}
	}
	stack := devenv.ForTest(t, devenv.Options{Events: true, WrapEvents: quiet})
	ctx := context.Background()
	tbl := store.New(stack.DB, stack.Table)
	if err := tbl.Link(ctx, "bin-hash", 5001, time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tbl.Unlink(ctx, 5002, "UNLINK"); err != nil {
		t.Fatal(err)
	}
	batch := readStream(t, stack)
	if len(batch.Records) != 3 { // h#bin-hash, u#5001, u#5002
		t.Fatalf("the stream holds %d records, want 3", len(batch.Records))
	}
	s := session(t, "events", stack.Environ())

	resp := invokeStream(t, s, batch)
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v", resp.BatchItemFailures)
	}
	got := receive(t, stack, 2)
	if !slices.Equal(got, []string{"UserLinked 5001", "UserUnlinked 5002"}) {
		t.Fatalf("the queue holds %v", got)
	}

	// A user record the function cannot read fails from there on, and nothing after it goes out.
	bad := batch
	bad.Records = append([]events.DynamoDBEventRecord{}, batch.Records...)
	bad.Records[1].Change.NewImage = map[string]events.DynamoDBAttributeValue{"pk": events.NewStringAttribute("u#5001"), "state": events.NewStringAttribute("frozen")}
	resp = invokeStream(t, s, bad)
	var failed []string
	for _, f := range resp.BatchItemFailures {
		failed = append(failed, f.ItemIdentifier)
	}
	if want := []string{bad.Records[1].Change.SequenceNumber, bad.Records[2].Change.SequenceNumber}; !slices.Equal(failed, want) {
		t.Fatalf("failures %v, want %v", failed, want)
	}
}

func TestTheEventsBinaryWithoutItsBusSaysWhyThroughInitError(t *testing.T) {
	stack := devenv.ForTest(t, devenv.Options{})
	s := session(t, "events", stack.Environ()) // no EVENT_BUS_NAME without Options.Events
	_, err := s.Invoke(context.Background(), []byte(`{"Records":[]}`))
	var ie *runtimeapi.InitError
	if !errors.As(err, &ie) || !strings.Contains(ie.Message, "EVENT_BUS_NAME is not set") {
		t.Fatalf("%v, want an init error naming EVENT_BUS_NAME", err)
	}
}

// readStream returns the table's stream from its start, as Lambda would hand it over.
func readStream(t *testing.T, stack *devenv.Stack) events.DynamoDBEvent {
	t.Helper()
	ctx := context.Background()
	c := stack.Moto.Streams()
	d, err := c.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &stack.Events.StreamArn})
	if err != nil {
		t.Fatal(err)
	}
	var ev events.DynamoDBEvent
	for _, sh := range d.StreamDescription.Shards {
		it, err := c.GetShardIterator(ctx, &dynamodbstreams.GetShardIteratorInput{StreamArn: &stack.Events.StreamArn, ShardId: sh.ShardId,
			ShardIteratorType: stypes.ShardIteratorTypeTrimHorizon})
		if err != nil {
			t.Fatal(err)
		}
		out, err := c.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range out.Records {
			ev.Records = append(ev.Records, streams.Convert(r))
		}
	}
	return ev
}

func invokeStream(t *testing.T, s *runtimeapi.Session, batch events.DynamoDBEvent) events.DynamoDBEventResponse {
	t.Helper()
	payload, _ := json.Marshal(batch)
	res, err := s.Invoke(context.Background(), payload)
	if err != nil || res.Err != nil {
		t.Fatalf("invoke: %v %v\nlogs:\n%s", err, res.Err, s.Logs())
	}
	var resp events.DynamoDBEventResponse
	if err := json.Unmarshal(res.Payload, &resp); err != nil {
		t.Fatalf("payload %s: %v", res.Payload, err)
	}
	return resp
}

// receive polls the stack's queue until n events came (the bound only ends a broken run).
func receive(t *testing.T, stack *devenv.Stack, n int) []string {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(time.Minute); len(got) < n && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		ds, err := stack.Events.Receive(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			var detail struct{ UserKey string }
			json.Unmarshal(d.Detail, &detail)
			got = append(got, d.DetailType+" "+detail.UserKey)
		}
	}
	return got
}
