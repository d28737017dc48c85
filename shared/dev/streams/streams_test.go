package streams

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// fakeStream serves shards of records; an iterator is "shard|index".
type fakeStream struct {
	mu     sync.Mutex
	order  []string // shard ids as DescribeStream lists them
	parent map[string]string
	recs   map[string][]types.Record
	closed map[string]bool
	// phantoms is how many reads still return, after the shard's records, a record that is not
	// in it (what moto shows an iterator made before a cancelled transaction).
	phantoms int
}

func (f *fakeStream) add(shard, key string, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !slices.Contains(f.order, shard) {
		f.order = append(f.order, shard)
	}
	for range n {
		seq := strconv.Itoa(1000 + len(f.recs[shard]))
		f.recs[shard] = append(f.recs[shard], types.Record{EventID: aws.String(shard + "-" + seq), EventName: types.OperationTypeInsert,
			Dynamodb: &types.StreamRecord{SequenceNumber: aws.String(seq), Keys: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: key}}}})
	}
}

func newFake() *fakeStream {
	return &fakeStream{parent: map[string]string{}, recs: map[string][]types.Record{}, closed: map[string]bool{}}
}

func (f *fakeStream) DescribeStream(_ context.Context, _ *dynamodbstreams.DescribeStreamInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var shards []types.Shard
	for _, id := range f.order {
		s := types.Shard{ShardId: aws.String(id)}
		if p := f.parent[id]; p != "" {
			s.ParentShardId = aws.String(p)
		}
		shards = append(shards, s)
	}
	return &dynamodbstreams.DescribeStreamOutput{StreamDescription: &types.StreamDescription{Shards: shards}}, nil
}

func (f *fakeStream) GetShardIterator(_ context.Context, in *dynamodbstreams.GetShardIteratorInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	shard := aws.ToString(in.ShardId)
	i := 0
	if in.ShardIteratorType != types.ShardIteratorTypeTrimHorizon {
		i = slices.IndexFunc(f.recs[shard], func(r types.Record) bool {
			return aws.ToString(r.Dynamodb.SequenceNumber) == aws.ToString(in.SequenceNumber)
		})
		if i < 0 {
			return nil, errors.New("no such sequence number")
		}
		if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber {
			i++
		}
	}
	return &dynamodbstreams.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%s|%d", shard, i))}, nil
}

func (f *fakeStream) GetRecords(_ context.Context, in *dynamodbstreams.GetRecordsInput, _ ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	shard, idx, _ := strings.Cut(aws.ToString(in.ShardIterator), "|")
	i, _ := strconv.Atoi(idx)
	recs := f.recs[shard]
	j := min(len(recs), i+int(aws.ToInt32(in.Limit)))
	out := &dynamodbstreams.GetRecordsOutput{Records: append([]types.Record(nil), recs[i:j]...)}
	if f.phantoms > 0 {
		f.phantoms--
		out.Records = append(out.Records, types.Record{EventID: aws.String(fmt.Sprintf("phantom-%d", f.phantoms)), EventName: types.OperationTypeInsert,
			Dynamodb: &types.StreamRecord{SequenceNumber: aws.String(strconv.Itoa(1000 + j)), Keys: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "u#9"}}}})
	}
	if !(f.closed[shard] && j == len(recs)) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%s|%d", shard, j))
	}
	return out, nil
}

// handler records what it was handed and fails as told.
type handler struct {
	mu      sync.Mutex
	batches [][]string // event ids
	fail    func(batch int, recs []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error)
}

func (h *handler) handle(_ context.Context, b events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ids []string
	for _, r := range b.Records {
		ids = append(ids, r.EventID)
	}
	h.batches = append(h.batches, ids)
	if h.fail != nil {
		return h.fail(len(h.batches)-1, b.Records)
	}
	return events.DynamoDBEventResponse{}, nil
}

func (h *handler) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, b := range h.batches {
		out = append(out, b...)
	}
	return out
}

func ids(shard string, from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("%s-%d", shard, 1000+i))
	}
	return out
}

func TestThePollerDeliversUserRecordsInOrderInBatches(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.add("s1", "u#1", 5)
	f.add("s1", "h#x", 3) // filtered out, as the template's FilterCriteria does
	f.add("s1", "u#2", 4)
	h := &handler{}
	p := &Poller{Streams: f, StreamArn: "arn", Handle: h.handle, KeyPrefix: "u#", BatchSize: 4}
	if st, err := p.Poll(context.Background()); err != nil || st.Handled != 12 || st.Failed != 0 {
		t.Fatalf("%+v %v", st, err)
	}
	want := append(ids("s1", 0, 5), ids("s1", 8, 12)...)
	if got := h.seen(); !slices.Equal(got, want) {
		t.Errorf("delivered %v, want %v", got, want)
	}
	for _, b := range h.batches {
		if len(b) > 4 {
			t.Errorf("a batch of %d, over BatchSize", len(b))
		}
	}
	f.add("s1", "u#3", 2)
	p.Poll(context.Background())
	if got := h.seen(); !slices.Equal(got[len(want):], ids("s1", 12, 14)) {
		t.Errorf("the next pass delivered %v, want only the new records", got[len(want):])
	}
}

func TestAReportedFailureIsReadAgainFromTheFailedRecord(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.add("s1", "u#1", 6)
	h := &handler{fail: func(batch int, recs []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
		if batch != 0 {
			return events.DynamoDBEventResponse{}, nil
		}
		var resp events.DynamoDBEventResponse
		for _, r := range recs[2:] { // the first failure and everything after it, as publish reports
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.DynamoDBBatchItemFailure{ItemIdentifier: r.Change.SequenceNumber})
		}
		return resp, nil
	}}
	p := &Poller{Streams: f, StreamArn: "arn", Handle: h.handle}
	if st, _ := p.Poll(context.Background()); st.Handled != 2 || st.Failed != 1 {
		t.Fatalf("first pass %+v, want 2 handled and a failed batch", st)
	}
	p.Poll(context.Background())
	if got, want := h.batches[1], ids("s1", 2, 6); !slices.Equal(got, want) {
		t.Fatalf("the retry delivered %v, want %v (from the failed record on)", got, want)
	}
}

func TestAHandlerErrorRetriesTheWholeBatch(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.add("s1", "u#1", 3)
	h := &handler{fail: func(batch int, _ []events.DynamoDBEventRecord) (events.DynamoDBEventResponse, error) {
		if batch == 0 {
			return events.DynamoDBEventResponse{}, errors.New("crashed")
		}
		return events.DynamoDBEventResponse{}, nil
	}}
	p := &Poller{Streams: f, StreamArn: "arn", Handle: h.handle}
	p.Poll(context.Background())
	p.Poll(context.Background())
	if len(h.batches) != 2 || !slices.Equal(h.batches[0], h.batches[1]) {
		t.Fatalf("batches %v, want the same batch twice", h.batches)
	}
}

func TestAChildShardWaitsForItsParent(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.add("child", "u#1", 2) // listed first, but read after its parent is closed and drained
	f.add("parent", "u#1", 2)
	f.parent["child"] = "parent"
	h := &handler{}
	p := &Poller{Streams: f, StreamArn: "arn", Handle: h.handle}
	p.Poll(context.Background())
	if got := h.seen(); !slices.Equal(got, ids("parent", 0, 2)) {
		t.Fatalf("delivered %v while the parent is open, want the parent's records only", got)
	}
	f.mu.Lock()
	f.closed["parent"] = true
	f.mu.Unlock()
	p.Poll(context.Background()) // finds the parent drained
	p.Poll(context.Background())
	if got := h.seen(); !slices.Equal(got, append(ids("parent", 0, 2), ids("child", 0, 2)...)) {
		t.Fatalf("delivered %v, want the parent's records, then the child's", got)
	}
}

func TestANewPollerStartsAgainAtTheTrimHorizon(t *testing.T) {
	t.Parallel()
	f := newFake()
	f.add("s1", "u#1", 3)
	first, second := &handler{}, &handler{}
	(&Poller{Streams: f, StreamArn: "arn", Handle: first.handle}).Poll(context.Background())
	(&Poller{Streams: f, StreamArn: "arn", Handle: second.handle}).Poll(context.Background())
	if !slices.Equal(first.seen(), second.seen()) || len(first.seen()) != 3 {
		t.Fatalf("%v then %v, want the same records with the same ids", first.seen(), second.seen())
	}
}

func TestAConfirmingPollerNeverDeliversARecordTheStreamDoesNotKeep(t *testing.T) {
	t.Parallel()
	for _, confirm := range []bool{false, true} {
		f := newFake()
		f.add("s1", "u#1", 3)
		f.phantoms = 2
		h := &handler{}
		p := &Poller{Streams: f, StreamArn: "arn", Handle: h.handle, Confirm: confirm}
		p.Poll(context.Background())
		f.add("s1", "u#2", 1) // takes the sequence number the phantom showed
		p.Poll(context.Background())
		phantom := slices.ContainsFunc(h.seen(), func(id string) bool { return strings.HasPrefix(id, "phantom") })
		complete := slices.Equal(slices.DeleteFunc(h.seen(), func(id string) bool { return strings.HasPrefix(id, "phantom") }), ids("s1", 0, 4))
		if confirm && (phantom || !complete) {
			t.Errorf("confirming: delivered %v, want exactly the stream's 4 records", h.seen())
		}
		if !confirm && !phantom {
			t.Errorf("without confirming the phantom should get through (the fake shows what moto does): %v", h.seen())
		}
	}
}
