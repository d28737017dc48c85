package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/tossgame/migration-server/shared/dev/devenv"
)

// eventBody is what an EventBridge rule delivers to an SQS queue for one event.
func eventBody(detailType, time, sequence string, detail map[string]any) string {
	detail["eventId"], detail["sequence"] = "ev-"+sequence, sequence
	b, _ := json.Marshal(map[string]any{"version": "0", "id": "id-" + sequence, "detail-type": detailType,
		"source": "toss-migration", "account": "123456789012", "time": time, "region": devenv.Region,
		"resources": []string{}, "detail": detail})
	return string(b)
}

func TestEventsPrintsTheLocalQueueInStreamOrderAndLeavesItForOthers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	q := sqs.NewFromConfig(aws.Config{Region: devenv.Region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		func(o *sqs.Options) { o.BaseEndpoint = &e.moto })
	ctx := context.Background()
	created, err := q.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("events-" + devenv.Unique())})
	if err != nil {
		t.Fatal(err)
	}
	// Sent out of order, and more than one receive's worth (10), as a busy consumer would.
	var bodies []string
	for i := range 12 {
		bodies = append(bodies, eventBody("UserLinked", "2026-03-01T10:00:00Z", fmt.Sprintf("1%02d", i),
			map[string]any{"userKey": fmt.Sprint(1000 + i), "hash": fmt.Sprintf("h%d", i), "linkedAt": "2026-03-01T10:00:00.000000000Z"}))
	}
	bodies = append(bodies,
		eventBody("UserUnlinked", "2026-03-01T10:00:02Z", "300", map[string]any{"userKey": "443731104", "hash": nil, "referrer": "WITHDRAWAL_TOSS", "unlinkedAt": "x"}),
		eventBody("UserUnlinked", "2026-03-01T10:00:01Z", "200", map[string]any{"userKey": "1000", "hash": "h0", "referrer": "UNLINK", "unlinkedAt": "x"}))
	for i := len(bodies) - 1; i >= 0; i-- {
		if _, err := q.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: created.QueueUrl, MessageBody: &bodies[i]}); err != nil {
			t.Fatal(err)
		}
	}

	oneLineError(t, e.ctl("", "--local", "events"), 1, "has no event queue")
	e.state.EventQueueURL = aws.ToString(created.QueueUrl)
	e.writeState()

	out := e.ok("", "--local", "--json", "events", "--wait", "0s")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 14 {
		t.Fatalf("%d events printed, want 14:\n%s", len(lines), out)
	}
	var types, seqs []string
	for _, l := range lines {
		var ev struct {
			DetailType string         `json:"detail-type"`
			Detail     map[string]any `json:"detail"`
		}
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		types, seqs = append(types, ev.DetailType), append(seqs, ev.Detail["sequence"].(string))
	}
	if types[11] != "UserLinked" || types[12] != "UserUnlinked" || seqs[0] != "100" || seqs[12] != "200" || seqs[13] != "300" {
		t.Fatalf("not in stream order: %v %v", types, seqs)
	}

	text := e.ok("", "--local", "events", "--wait", "0s")
	if !strings.Contains(text, "UserUnlinked    hash=null referrer=WITHDRAWAL_TOSS unlinkedAt=x userKey=443731104") {
		t.Fatalf("a second read (the queue was left as it was) printed:\n%s", text)
	}
	if n := strings.Count(text, "\n"); n != 14 {
		t.Fatalf("second read printed %d events", n)
	}
	e.ok("", "--local", "events", "--wait", "0s", "--delete")
	if out := e.ok("", "--local", "events", "--wait", "0s"); out != "" {
		t.Fatalf("--delete left:\n%s", out)
	}
}
