package publish

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge/types"

	"github.com/tossgame/migration-server/shared/metrics/emftest"
)

// fakeBus accepts PutEvents calls; fail decides, per call and entry, whether an entry fails
// (entry -1: the whole call fails).
type fakeBus struct {
	mu    sync.Mutex
	calls [][]types.PutEventsRequestEntry
	fail  func(call, entry int) bool
}

func (b *fakeBus) PutEvents(_ context.Context, in *eventbridge.PutEventsInput, _ ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	call := len(b.calls)
	b.calls = append(b.calls, in.Entries)
	if b.fail != nil && b.fail(call, -1) {
		return nil, errors.New("ServiceUnavailable")
	}
	out := &eventbridge.PutEventsOutput{}
	for i := range in.Entries {
		if b.fail != nil && b.fail(call, i) {
			out.FailedEntryCount++
			out.Entries = append(out.Entries, types.PutEventsResultEntry{ErrorCode: aws.String("InternalFailure"), ErrorMessage: aws.String("x")})
			continue
		}
		out.Entries = append(out.Entries, types.PutEventsResultEntry{EventId: aws.String(fmt.Sprintf("eb-%d-%d", call, i))})
	}
	return out, nil
}

// published is every entry that was accepted, in order.
func (b *fakeBus) published(t *testing.T) []Linked {
	t.Helper()
	var out []Linked
	for c, entries := range b.calls {
		for i, e := range entries {
			if b.fail != nil && (b.fail(c, -1) || b.fail(c, i)) {
				continue
			}
			var d Linked
			if err := json.Unmarshal([]byte(aws.ToString(e.Detail)), &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
	}
	return out
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// batch is n records alternating u# links (which make events) and h# items (which do not);
// record i has sequence number 1000+i.
func batch(n int) events.DynamoDBEvent {
	var ev events.DynamoDBEvent
	for i := range n {
		seq := strconv.Itoa(1000 + i)
		if i%2 == 1 {
			ev.Records = append(ev.Records, record("h"+seq, seq, "INSERT", "h#x"+seq, img{"pk": S("h#x" + seq), "userKey": N(seq)}, nil))
			continue
		}
		key := "u#" + seq
		ev.Records = append(ev.Records, record("id-"+seq, seq, "INSERT", key, linked(key, "hash-"+seq, t1), nil))
	}
	return ev
}

func failures(resp events.DynamoDBEventResponse) []string {
	var out []string
	for _, f := range resp.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

func seqs(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, strconv.Itoa(1000+i))
	}
	return out
}

func TestABatchIsPublishedInStreamOrderTenAtATime(t *testing.T) {
	t.Parallel()
	bus := &fakeBus{}
	p := &Publisher{EventBridge: bus, Bus: "the-bus", Log: quiet}
	resp, err := p.Handle(context.Background(), batch(50)) // 25 events
	if err != nil || len(resp.BatchItemFailures) != 0 {
		t.Fatalf("%v %v", failures(resp), err)
	}
	var sizes []int
	for _, c := range bus.calls {
		sizes = append(sizes, len(c))
		for _, e := range c {
			if aws.ToString(e.Source) != Source || aws.ToString(e.DetailType) != UserLinked || aws.ToString(e.EventBusName) != "the-bus" || e.Time == nil {
				t.Errorf("entry %+v", e)
			}
		}
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Errorf("calls of %v entries, want [10 10 5]", sizes)
	}
	var got []string
	for _, d := range bus.published(t) {
		got = append(got, d.Sequence)
	}
	var want []string
	for i := 0; i < 50; i += 2 {
		want = append(want, strconv.Itoa(1000+i))
	}
	if !slices.Equal(got, want) {
		t.Errorf("published %v, want %v (stream order)", got, want)
	}
}

func TestAFailureStopsTheBatchThereAndReportsEverythingFromIt(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		fail  func(call, entry int) bool
		calls int
		from  int // the first record reported failed
	}{
		{"an entry of the second call fails", func(c, e int) bool { return c == 1 && e == 3 }, 2, 26}, // 10 + 3 events = record 26
		{"the first call fails whole", func(c, e int) bool { return c == 0 && e == -1 }, 1, 0},
		{"the last call fails whole", func(c, e int) bool { return c == 2 && e == -1 }, 3, 40},
		{"the first entry fails", func(c, e int) bool { return c == 0 && e == 0 }, 1, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			bus := &fakeBus{fail: c.fail}
			p := &Publisher{EventBridge: bus, Bus: "b", Log: quiet}
			b := batch(50)
			resp, err := p.Handle(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := failures(resp), seqs(c.from, 50); !slices.Equal(got, want) {
				t.Errorf("reported %v, want %v", got, want)
			}
			if len(bus.calls) != c.calls {
				t.Errorf("%d calls, want %d: nothing is sent after a failure", len(bus.calls), c.calls)
			}
			// Lambda retries from the first failure: the retry publishes the rest, and nothing
			// the first attempt published is lost.
			retryBus := &fakeBus{}
			retry := events.DynamoDBEvent{Records: b.Records[c.from:]}
			if resp, _ := (&Publisher{EventBridge: retryBus, Bus: "b", Log: quiet}).Handle(context.Background(), retry); len(resp.BatchItemFailures) != 0 {
				t.Fatal("the retry failed")
			}
			seen := map[string]int{}
			for _, d := range append(bus.published(t), retryBus.published(t)...) {
				seen[d.EventID]++
			}
			for i := 0; i < 50; i += 2 {
				if seen["id-"+strconv.Itoa(1000+i)] == 0 {
					t.Errorf("event of record %d lost", i)
				}
			}
		})
	}
}

func TestABadRecordFailsTheBatchFromItAfterPublishingWhatCameBefore(t *testing.T) {
	t.Parallel()
	b := batch(10)
	b.Records[6] = record("bad", "1006", "INSERT", "u#7", img{"pk": S("u#7"), "state": S("frozen")}, nil)
	bus := &fakeBus{}
	resp, _ := (&Publisher{EventBridge: bus, Bus: "b", Log: quiet}).Handle(context.Background(), b)
	if got, want := failures(resp), seqs(6, 10); !slices.Equal(got, want) {
		t.Errorf("reported %v, want %v", got, want)
	}
	var got []string
	for _, d := range bus.published(t) {
		got = append(got, d.Sequence)
	}
	if !slices.Equal(got, []string{"1000", "1002", "1004"}) {
		t.Errorf("published %v, want the three events before the bad record", got)
	}
}

func TestARedeliveredRecordCarriesTheSameEventID(t *testing.T) {
	t.Parallel()
	bus := &fakeBus{}
	p := &Publisher{EventBridge: bus, Bus: "b", Log: quiet}
	for range 2 {
		p.Handle(context.Background(), batch(2))
	}
	got := bus.published(t)
	if len(got) != 2 || got[0].EventID != "id-1000" || got[0] != got[1] {
		t.Fatalf("published %+v, want the same detail twice", got)
	}
}

func TestAnEmptyOrEventlessBatchCallsNothing(t *testing.T) {
	t.Parallel()
	bus := &fakeBus{}
	p := &Publisher{EventBridge: bus, Bus: "b", Log: quiet}
	b := batch(2)
	b.Records = b.Records[1:] // the h# record alone
	for _, ev := range []events.DynamoDBEvent{{}, b} {
		if resp, err := p.Handle(context.Background(), ev); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatal(resp, err)
		}
	}
	if len(bus.calls) != 0 {
		t.Fatalf("%d calls", len(bus.calls))
	}
}

// With a namespace, each batch's log line counts what was published, by detail type, and what
// failed, as EMF that CloudWatch extracts.
func TestABatchCountsWhatItPublishedAndWhatFailedAsMetrics(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	bus := &fakeBus{fail: func(call, entry int) bool { return call == 1 && entry == 2 }}
	p := &Publisher{EventBridge: bus, Bus: "the-bus", Log: slog.New(slog.NewJSONHandler(&logs, nil)), Namespace: "Test"}
	resp, err := p.Handle(context.Background(), batch(50)) // 25 events: the second call fails at its third
	if err != nil || len(resp.BatchItemFailures) == 0 {
		t.Fatalf("%v %v", failures(resp), err)
	}
	got, err := emftest.ParseLog(logs.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var published, failed float64
	for _, d := range got {
		switch d.Name {
		case "EventsPublished":
			published += d.Value
		case "EventsFailed":
			failed += d.Value
		}
	}
	if published != 10 || failed != float64(len(resp.BatchItemFailures)) {
		t.Errorf("EventsPublished %v, EventsFailed %v; want 10 and %d\n%s", published, failed, len(resp.BatchItemFailures), logs.String())
	}
}
