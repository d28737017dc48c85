package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

func eventsCommand() command {
	return command{
		name: "events", args: "--local [--follow] [--delete]",
		summary: "print the events the local stack delivered to its queue (UserLinked, UserUnlinked, ...)",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			follow := fs.Bool("follow", false, "keep printing events as they arrive, until Ctrl-C")
			del := fs.Bool("delete", false, "delete the printed events from the queue (default: leave them for other readers)")
			wait := fs.Duration("wait", time.Second, "how long to wait for a first event (up to 20s; short polls)")
			return func(ctx context.Context) error {
				if !a.g.local {
					return usagef("events reads the local stack's queue: use --local (a deployed stack's events go to its EventBridge bus: subscribe a queue or a Lambda to it)")
				}
				if *wait < 0 || *wait > 20*time.Second {
					return usagef("events: --wait must be 0 to 20s")
				}
				s, err := a.localState()
				if err != nil {
					return err
				}
				if s.EventQueueURL == "" {
					return fmt.Errorf("the local stack (pid %d) has no event queue: this `make run` delivers no events", s.PID)
				}
				endpoint := cmp.Or(s.SQS, s.DynamoDB)
				client, err := a.sqs(ctx, endpoint)
				if err != nil {
					return err
				}
				q := &queueReader{client: client, url: s.EventQueueURL, seen: map[string]bool{}}
				if *follow {
					q.visibility = 12 * 60 * 60 // hidden while we follow; given back when we stop
				}
				defer q.release(*del)
				first := *wait
				for {
					evs, err := q.drain(ctx, first)
					if err != nil {
						if ctx.Err() != nil && *follow {
							return nil
						}
						return fmt.Errorf("read the local event queue: %w", err)
					}
					if err := printEvents(a.sys.stdout, evs, a.g.json); err != nil {
						return err
					}
					if !*follow {
						return nil
					}
					first = time.Hour // following: poll until something arrives
				}
			}
		},
	}
}

// queueReader reads a queue without consuming it: what it receives stays hidden until release
// hands it back (or deletes it).
type queueReader struct {
	client     *sqs.Client
	url        string
	visibility int32
	seen       map[string]bool
	handles    []string
}

// event is one queued message: an EventBridge event, or something else kept as it came.
type event struct {
	raw        json.RawMessage
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
	sequence   string
}

// pollEvery is how often an empty queue is asked again. Polls are short, never SQS long polls:
// the local stack's proxy serves one request at a time, and a long poll would hold up the
// functions' DynamoDB calls behind it.
const pollEvery = 250 * time.Millisecond

// drain receives until the queue has nothing more to show, polling up to wait for the first.
func (q *queueReader) drain(ctx context.Context, wait time.Duration) ([]event, error) {
	var evs []event
	deadline := time.Now().Add(wait)
	for {
		vis := q.visibility
		if vis == 0 {
			vis = 30
		}
		out, err := q.client.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: &q.url, MaxNumberOfMessages: 10, VisibilityTimeout: vis,
		})
		if err != nil {
			return evs, err
		}
		if len(out.Messages) == 0 {
			if len(evs) == 0 && time.Now().Before(deadline) {
				select {
				case <-ctx.Done():
					return nil, ctx.Err()
				case <-time.After(pollEvery):
				}
				continue
			}
			sortEvents(evs)
			return evs, nil
		}
		for _, m := range out.Messages {
			q.handles = append(q.handles, aws.ToString(m.ReceiptHandle))
			if id := aws.ToString(m.MessageId); q.seen[id] {
				continue
			} else {
				q.seen[id] = true
			}
			evs = append(evs, parseEvent(aws.ToString(m.Body)))
		}
	}
}

func parseEvent(body string) event {
	e := event{raw: json.RawMessage(body)}
	if json.Unmarshal([]byte(body), &e) != nil || e.DetailType == "" {
		return event{raw: e.raw}
	}
	var d struct {
		Sequence string `json:"sequence"`
	}
	_ = json.Unmarshal(e.Detail, &d)
	e.sequence = d.Sequence
	return e
}

// sortEvents orders by the stream's sequence number (later is larger: a user's events stay in
// their order), then by time.
func sortEvents(evs []event) {
	slices.SortStableFunc(evs, func(x, y event) int {
		if x.sequence != "" && y.sequence != "" {
			if c := cmp.Compare(len(x.sequence), len(y.sequence)); c != 0 {
				return c
			}
			if c := strings.Compare(x.sequence, y.sequence); c != 0 {
				return c
			}
		}
		return strings.Compare(x.Time, y.Time)
	})
}

// release gives the received messages back to the queue, or deletes them.
func (q *queueReader) release(del bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for i := 0; i < len(q.handles); i += 10 {
		chunk := q.handles[i:min(i+10, len(q.handles))]
		if del {
			entries := make([]sqstypes.DeleteMessageBatchRequestEntry, len(chunk))
			for j, h := range chunk {
				entries[j] = sqstypes.DeleteMessageBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(h)}
			}
			_, _ = q.client.DeleteMessageBatch(ctx, &sqs.DeleteMessageBatchInput{QueueUrl: &q.url, Entries: entries})
			continue
		}
		entries := make([]sqstypes.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
		for j, h := range chunk {
			entries[j] = sqstypes.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(j)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0}
		}
		_, _ = q.client.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &q.url, Entries: entries})
	}
	q.handles = nil
}

// printEvents writes each event as its JSON (one a line), or as a line of text.
func printEvents(w io.Writer, evs []event, asJSON bool) error {
	for _, e := range evs {
		if asJSON {
			var buf bytes.Buffer
			if json.Compact(&buf, e.raw) != nil {
				b, _ := json.Marshal(string(e.raw))
				buf.Reset()
				buf.Write(b)
			}
			buf.WriteByte('\n')
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			continue
		}
		if e.DetailType == "" {
			fmt.Fprintf(w, "(not an EventBridge event) %s\n", oneLine(string(e.raw)))
			continue
		}
		fmt.Fprintf(w, "%-20s  %-14s  %s\n", e.Time, e.DetailType, detailText(e.Detail))
	}
	return nil
}

// detailText is the detail's fields as k=v, in key order, without the de-duplication fields.
func detailText(raw json.RawMessage) string {
	var d map[string]any
	if json.Unmarshal(raw, &d) != nil {
		return oneLine(string(raw))
	}
	keys := make([]string, 0, len(d))
	for k := range d {
		if k != "eventId" && k != "sequence" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := d[k]
		switch v := v.(type) {
		case string:
			parts[i] = k + "=" + v
		case nil:
			parts[i] = k + "=null"
		default:
			b, _ := json.Marshal(v)
			parts[i] = k + "=" + string(b)
		}
	}
	return strings.Join(parts, " ")
}
