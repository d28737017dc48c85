package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/tossgame/migration-server/shared/metrics"
)

// EventBridge is the part of the SDK client the publisher uses.
type EventBridge interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, opts ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

var _ EventBridge = (*eventbridge.Client)(nil)

// NewClient builds the EventBridge client, honouring AWS_ENDPOINT_URL_EVENTBRIDGE (as awsenv
// does for DynamoDB; it lives here so that only the events function links EventBridge).
func NewClient(cfg aws.Config) *eventbridge.Client {
	return eventbridge.NewFromConfig(cfg, func(o *eventbridge.Options) {
		if ep := os.Getenv("AWS_ENDPOINT_URL_EVENTBRIDGE"); ep != "" {
			o.BaseEndpoint = &ep
		}
	})
}

// MaxEntries is PutEvents' limit of entries per call.
const MaxEntries = 10

// Publisher publishes the events of stream batches to one bus.
type Publisher struct {
	EventBridge EventBridge
	Bus         string
	Log         *slog.Logger
	// Namespace, when set, has each batch's log line carry EventsPublished{DetailType} and
	// EventsFailed as EMF (shared/metrics); the dashboard and the alarms read them.
	Namespace string
}

// Handle is the stream function's handler. It publishes the batch's events in stream order, at
// most MaxEntries per call, and stops at the first record it cannot turn into an event or publish:
// that record and every one after it are reported as failed, so that Lambda retries from there and
// a user's later event never overtakes an earlier one. Entries of a failed call that did succeed
// are published again on the retry, with the same eventId (at-least-once).
func (p *Publisher) Handle(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	ctx, set := metrics.With(ctx)
	recs := batch.Records
	failAt := -1
	var entries []types.PutEventsRequestEntry
	var from []int // the record of each entry
	published := 0

	flush := func() bool {
		if len(entries) == 0 {
			return true
		}
		first, err := p.put(ctx, entries)
		if err != nil {
			failAt = from[first]
			p.logger().ErrorContext(ctx, "publish failed", "sequence", recs[failAt].Change.SequenceNumber, "error", err.Error())
			return false
		}
		published += len(entries)
		for _, e := range entries {
			metrics.EventPublished(ctx, aws.ToString(e.DetailType))
		}
		entries, from = nil, nil
		return true
	}

	for i, r := range recs {
		ev, err := FromRecord(r)
		if err != nil {
			if flush() {
				failAt = i
				p.logger().ErrorContext(ctx, "bad stream record", "sequence", r.Change.SequenceNumber, "error", err.Error())
			}
			break
		}
		if ev == nil {
			continue
		}
		entry, err := p.entry(ev)
		if err != nil {
			if flush() {
				failAt = i
				p.logger().ErrorContext(ctx, "event not encodable", "sequence", r.Change.SequenceNumber, "error", err.Error())
			}
			break
		}
		entries, from = append(entries, entry), append(from, i)
		if len(entries) == MaxEntries && !flush() {
			break
		}
	}
	if failAt < 0 {
		flush()
	}

	var resp events.DynamoDBEventResponse
	if failAt >= 0 {
		for _, r := range recs[failAt:] {
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
		}
	}
	for range resp.BatchItemFailures {
		metrics.EventFailed(ctx)
	}
	attrs := []slog.Attr{slog.Int("records", len(recs)), slog.Int("published", published), slog.Int("failed", len(resp.BatchItemFailures))}
	if p.Namespace == "" {
		p.logger().LogAttrs(ctx, slog.LevelInfo, "stream batch", attrs...)
	} else {
		set.Log(ctx, p.logger(), slog.LevelInfo, "stream batch", p.Namespace, nil, attrs...)
	}
	return resp, nil
}

// put sends one PutEvents call; on failure it returns the index of the first entry that did not
// make it (PutEvents answers each entry in order, and may fail some while accepting others).
func (p *Publisher) put(ctx context.Context, entries []types.PutEventsRequestEntry) (int, error) {
	out, err := p.EventBridge.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: entries})
	if err != nil {
		return 0, err
	}
	if len(out.Entries) != len(entries) {
		return 0, fmt.Errorf("PutEvents answered %d entries for %d", len(out.Entries), len(entries))
	}
	for i, e := range out.Entries {
		if e.ErrorCode != nil || e.EventId == nil {
			return i, fmt.Errorf("entry %d: %s: %s", i, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage))
		}
	}
	return 0, nil
}

func (p *Publisher) entry(ev *Event) (types.PutEventsRequestEntry, error) {
	detail, err := json.Marshal(ev.Detail)
	if err != nil {
		return types.PutEventsRequestEntry{}, err
	}
	if p.Bus == "" {
		return types.PutEventsRequestEntry{}, errors.New("no event bus configured")
	}
	e := types.PutEventsRequestEntry{
		Source:       aws.String(Source),
		DetailType:   aws.String(ev.DetailType),
		Detail:       aws.String(string(detail)),
		EventBusName: aws.String(p.Bus),
	}
	if !ev.Time.IsZero() {
		e.Time = aws.Time(ev.Time)
	}
	return e, nil
}

func (p *Publisher) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}
