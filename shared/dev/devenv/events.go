package devenv

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/tossgame/migration-server/shared/dev/streams"
	"github.com/tossgame/migration-server/shared/publish"
)

// The local events path (docs/events.md): the table's stream -> the streams poller -> the same
// handler as functions/events -> a local EventBridge bus -> a rule on source toss-migration -> an
// SQS queue the tests, `make run` and its tools read. EventBridge Pipes cannot run locally, and
// Lambda's event source mapping is what the poller stands in for.

// StreamsEndpoint is where the DynamoDB Streams API is: AWS_ENDPOINT_URL_DYNAMODB_STREAMS, or the
// DynamoDB endpoint (moto and DynamoDB Local serve both on one port).
func (m *Moto) StreamsEndpoint() string {
	return envOr("AWS_ENDPOINT_URL_DYNAMODB_STREAMS", m.Endpoint)
}

// EventsEndpoint is where EventBridge is: AWS_ENDPOINT_URL_EVENTBRIDGE, or moto (the Secrets
// Manager endpoint, which is moto even when DynamoDB is elsewhere).
func (m *Moto) EventsEndpoint() string { return envOr("AWS_ENDPOINT_URL_EVENTBRIDGE", m.Secrets) }

// SQSEndpoint is where SQS is: AWS_ENDPOINT_URL_SQS, or moto.
func (m *Moto) SQSEndpoint() string { return envOr("AWS_ENDPOINT_URL_SQS", m.Secrets) }

// Streams returns a DynamoDB Streams client of this moto_server.
func (m *Moto) Streams() *dynamodbstreams.Client {
	ep := m.StreamsEndpoint()
	return dynamodbstreams.NewFromConfig(m.AWSConfig(), func(o *dynamodbstreams.Options) { o.BaseEndpoint = &ep })
}

// EventBridge returns an EventBridge client of this moto_server.
func (m *Moto) EventBridge() *eventbridge.Client {
	ep := m.EventsEndpoint()
	return eventbridge.NewFromConfig(m.AWSConfig(), func(o *eventbridge.Options) { o.BaseEndpoint = &ep })
}

// SQS returns an SQS client of this moto_server.
func (m *Moto) SQS() *sqs.Client {
	ep := m.SQSEndpoint()
	return sqs.NewFromConfig(m.AWSConfig(), func(o *sqs.Options) { o.BaseEndpoint = &ep })
}

// EventsStack is the local events path of a Stack.
type EventsStack struct {
	Bus       string // the bus name (EVENT_BUS_NAME)
	QueueURL  string // the queue the rule delivers to
	StreamArn string
	SQS       *sqs.Client
	Poller    *streams.Poller

	eb   *eventbridge.Client
	stop context.CancelFunc
	done sync.WaitGroup
}

// startEvents creates the bus, the queue, the rule and starts the poller.
func (s *Stack) startEvents(ctx context.Context, opt Options, log *slog.Logger) error {
	ev := &EventsStack{SQS: s.Moto.SQS()}
	var err error
	if ev.StreamArn, err = StreamOf(ctx, s.DB, s.Table); err != nil {
		return err
	}
	eb := s.Moto.EventBridge()
	ev.Bus = or(opt.EventBus, s.Table)
	if _, err := eb.CreateEventBus(ctx, &eventbridge.CreateEventBusInput{Name: &ev.Bus}); err != nil {
		var exists *ebtypes.ResourceAlreadyExistsException
		if !errors.As(err, &exists) {
			return fmt.Errorf("create event bus: %w", err)
		}
	}
	ev.eb = eb
	if ev.QueueURL, err = ev.Subscribe(ctx, "events"); err != nil {
		return err
	}

	// The handler functions/events runs, wired as its main wires it.
	handle := (&publish.Publisher{EventBridge: eb, Bus: ev.Bus, Log: log}).Handle
	var h streams.Handler = handle
	if opt.WrapEvents != nil {
		h = opt.WrapEvents(h)
	}
	ev.Poller = &streams.Poller{Streams: s.Moto.Streams(), StreamArn: ev.StreamArn, Handle: h, KeyPrefix: "u#", Log: log, Confirm: true,
		Idle: 50 * time.Millisecond} // three calls a pass through the proxy's one lane: leave room for the rest
	run, stop := context.WithCancel(context.Background())
	ev.stop = stop
	ev.done.Add(1)
	go func() {
		defer ev.done.Done()
		ev.Poller.Run(run)
	}()
	s.Events = ev
	return nil
}

// Subscribe gives a subscriber a queue of its own, name, with a rule from the bus matching every
// event of source toss-migration, as a studio's backend subscribes; it returns the queue's URL.
func (e *EventsStack) Subscribe(ctx context.Context, name string) (string, error) {
	q, err := e.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(e.Bus + "-" + name)})
	if err != nil {
		return "", fmt.Errorf("create queue: %w", err)
	}
	attrs, err := e.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl,
		AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", fmt.Errorf("queue attributes: %w", err)
	}
	rule := aws.String(e.Bus + "-to-" + name)
	if name == "events" {
		rule = aws.String(e.Bus + "-to-queue")
	}
	pattern, _ := json.Marshal(map[string][]string{"source": {publish.Source}})
	if _, err := e.eb.PutRule(ctx, &eventbridge.PutRuleInput{Name: rule, EventBusName: &e.Bus, EventPattern: aws.String(string(pattern))}); err != nil {
		return "", fmt.Errorf("put rule: %w", err)
	}
	if _, err := e.eb.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: rule, EventBusName: &e.Bus,
		Targets: []ebtypes.Target{{Id: aws.String("queue"), Arn: aws.String(attrs.Attributes[string(sqstypes.QueueAttributeNameQueueArn)])}}}); err != nil {
		return "", fmt.Errorf("put targets: %w", err)
	}
	return aws.ToString(q.QueueUrl), nil
}

// Close stops the poller.
func (e *EventsStack) Close() {
	if e == nil || e.stop == nil {
		return
	}
	e.stop()
	e.done.Wait()
}

// StreamOf returns the table's stream ARN, enabling the stream (NEW_AND_OLD_IMAGES) on a table
// created without one.
func StreamOf(ctx context.Context, db *dynamodb.Client, table string) (string, error) {
	d, err := db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &table})
	if err != nil {
		return "", fmt.Errorf("describe table: %w", err)
	}
	if arn := aws.ToString(d.Table.LatestStreamArn); arn != "" && d.Table.StreamSpecification != nil && aws.ToBool(d.Table.StreamSpecification.StreamEnabled) {
		return arn, nil
	}
	u, err := db.UpdateTable(ctx, &dynamodb.UpdateTableInput{TableName: &table, StreamSpecification: streamSpec()})
	if err != nil {
		return "", fmt.Errorf("enable the table's stream: %w", err)
	}
	return aws.ToString(u.TableDescription.LatestStreamArn), nil
}

// Delivered is one event as it reached the queue: EventBridge's envelope around the detail.
type Delivered struct {
	ID         string          `json:"id"`
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
	Body       string          `json:"-"` // the message as received, to check what it does not hold
}

// Receive takes what is in the queue now (up to 10 messages, without waiting: a long poll would
// hold the proxy's single lane) and deletes it.
func (e *EventsStack) Receive(ctx context.Context) ([]Delivered, error) {
	return e.ReceiveFrom(ctx, e.QueueURL)
}

// ReceiveFrom is Receive on another subscriber's queue (see Subscribe).
func (e *EventsStack) ReceiveFrom(ctx context.Context, queueURL string) ([]Delivered, error) {
	out, err := e.SQS.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &queueURL, MaxNumberOfMessages: 10})
	if err != nil {
		return nil, fmt.Errorf("receive: %w", err)
	}
	var got []Delivered
	var del []sqstypes.DeleteMessageBatchRequestEntry
	for i, m := range out.Messages {
		var d Delivered
		if err := json.Unmarshal([]byte(aws.ToString(m.Body)), &d); err != nil {
			return nil, fmt.Errorf("message %s is not an EventBridge event: %w", aws.ToString(m.MessageId), err)
		}
		d.Body = aws.ToString(m.Body)
		got = append(got, d)
		del = append(del, sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), ReceiptHandle: m.ReceiptHandle})
	}
	if len(del) > 0 {
		if _, err := e.SQS.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &queueURL, Entries: del}); err != nil {
			return nil, fmt.Errorf("delete received: %w", err)
		}
	}
	return got, nil
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}
