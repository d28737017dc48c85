// Package streams is the local stand-in for Lambda's DynamoDB stream event source mapping: it
// reads a table's stream with DescribeStream, GetShardIterator and GetRecords and hands batches to
// the same handler functions/events runs, with Lambda's partial-batch semantics (after a reported
// failure it reads again from the failed record; after a handler error, from the batch's first)
// and the template's filter (u# records only). Checkpoints are per shard, in memory: a new Poller
// starts at the trim horizon again, as a consumer that lost its state would.
package streams

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// Streams is the part of the DynamoDB Streams client the poller uses.
type Streams interface {
	DescribeStream(ctx context.Context, in *dynamodbstreams.DescribeStreamInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.DescribeStreamOutput, error)
	GetShardIterator(ctx context.Context, in *dynamodbstreams.GetShardIteratorInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *dynamodbstreams.GetRecordsInput, opts ...func(*dynamodbstreams.Options)) (*dynamodbstreams.GetRecordsOutput, error)
}

var _ Streams = (*dynamodbstreams.Client)(nil)

// Handler is a stream function's handler (publish.Publisher.Handle).
type Handler func(ctx context.Context, batch events.DynamoDBEvent) (events.DynamoDBEventResponse, error)

// Poller delivers a stream's records to a handler.
type Poller struct {
	Streams   Streams
	StreamArn string
	Handle    Handler
	// KeyPrefix keeps only records whose pk starts with it, as the template's FilterCriteria
	// does ("" keeps all). Records filtered out count as processed.
	KeyPrefix string
	BatchSize int           // default 100, the template's
	Idle      time.Duration // pause between passes that found nothing; default 20 ms
	// Confirm reads every page twice (see confirm): on for moto, whose stream can show a
	// cancelled transaction's write to an iterator made before the cancellation.
	Confirm bool
	Log     *slog.Logger

	mu    sync.Mutex
	shard map[string]*position
}

// position is where a shard is to be read next: after seq, or at seq when retrying from a
// failed record; a shard whose records are all read and that is closed is done.
type position struct {
	seq  string
	at   bool
	done bool
}

const defaultBatch = 100

// Run polls until ctx ends.
func (p *Poller) Run(ctx context.Context) error {
	idle := p.Idle
	if idle == 0 {
		idle = 20 * time.Millisecond
	}
	for {
		st, err := p.Poll(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			p.logger().WarnContext(ctx, "stream poll failed", "error", err.Error())
		}
		if st.Handled == 0 || st.Failed > 0 || err != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(idle):
			}
		}
	}
}

// Stats count one pass: records processed (filtered ones included), and batches that failed
// (to be read again from the failure on the next pass).
type Stats struct{ Handled, Failed int }

// Poll makes one pass over the stream's shards, parents before children.
func (p *Poller) Poll(ctx context.Context) (Stats, error) {
	var total Stats
	shards, err := p.shards(ctx)
	if err != nil {
		return total, err
	}
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		if parent := aws.ToString(s.ParentShardId); parent != "" && !p.pos(parent).done && known(shards, parent) {
			continue // a child waits for its parent, so a key's records stay in order
		}
		if p.pos(id).done {
			continue
		}
		st, err := p.pollShard(ctx, id)
		total.Handled += st.Handled
		total.Failed += st.Failed
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func known(shards []types.Shard, id string) bool {
	for _, s := range shards {
		if aws.ToString(s.ShardId) == id {
			return true
		}
	}
	return false
}

func (p *Poller) shards(ctx context.Context) ([]types.Shard, error) {
	var out []types.Shard
	var start *string
	for {
		d, err := p.Streams.DescribeStream(ctx, &dynamodbstreams.DescribeStreamInput{StreamArn: &p.StreamArn, ExclusiveStartShardId: start})
		if err != nil {
			return nil, fmt.Errorf("describe stream: %w", err)
		}
		out = append(out, d.StreamDescription.Shards...)
		if start = d.StreamDescription.LastEvaluatedShardId; start == nil {
			return out, nil
		}
	}
}

func (p *Poller) pos(shard string) position {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shard == nil {
		p.shard = map[string]*position{}
	}
	if q, ok := p.shard[shard]; ok {
		return *q
	}
	return position{}
}

func (p *Poller) set(shard string, q position) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shard[shard] = &q
}

// pollShard reads one shard from its position to its current end, in batches.
func (p *Poller) pollShard(ctx context.Context, shard string) (Stats, error) {
	var st Stats
	for {
		q := p.pos(shard)
		out, err := p.read(ctx, shard, q)
		if err != nil {
			return st, err
		}
		if p.Confirm && len(out.Records) > 0 {
			if out, err = p.confirm(ctx, shard, q, out); err != nil {
				return st, err
			}
		}
		if len(out.Records) == 0 {
			if out.NextShardIterator == nil { // closed and drained
				q.done = true
				p.set(shard, q)
			}
			return st, nil
		}
		n, next, ok := p.deliver(ctx, out.Records)
		st.Handled += n
		p.set(shard, *next)
		if !ok {
			st.Failed++
			return st, nil // read again from the failure on the next pass
		}
	}
}

// read takes a fresh iterator at q and reads one page. It never follows NextShardIterator: moto's
// iterators keep the shard object they were made on, which a cancelled transaction replaces by
// its restored copy, so an old iterator can return a write that never committed.
func (p *Poller) read(ctx context.Context, shard string, q position) (*dynamodbstreams.GetRecordsOutput, error) {
	in := &dynamodbstreams.GetShardIteratorInput{StreamArn: &p.StreamArn, ShardId: &shard, ShardIteratorType: types.ShardIteratorTypeTrimHorizon}
	switch {
	case q.seq != "" && q.at:
		in.ShardIteratorType, in.SequenceNumber = types.ShardIteratorTypeAtSequenceNumber, &q.seq
	case q.seq != "":
		in.ShardIteratorType, in.SequenceNumber = types.ShardIteratorTypeAfterSequenceNumber, &q.seq
	}
	it, err := p.Streams.GetShardIterator(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("shard iterator: %w", err)
	}
	size := p.BatchSize
	if size <= 0 {
		size = defaultBatch
	}
	out, err := p.Streams.GetRecords(ctx, &dynamodbstreams.GetRecordsInput{ShardIterator: it.ShardIterator, Limit: aws.Int32(int32(size))})
	if err != nil {
		return nil, fmt.Errorf("get records: %w", err)
	}
	return out, nil
}

// confirm guards against that same moto behaviour between GetShardIterator and GetRecords: a
// page is taken only when a second read, whose iterator was made after the first page was
// read, starts with the same records. A record of a cancelled transaction lives only in the
// shard object the cancellation orphaned, which the second iterator cannot be made on.
func (p *Poller) confirm(ctx context.Context, shard string, q position, first *dynamodbstreams.GetRecordsOutput) (*dynamodbstreams.GetRecordsOutput, error) {
	const tries = 10
	for range tries {
		again, err := p.read(ctx, shard, q)
		if err != nil {
			return nil, err
		}
		if prefix(first.Records, again.Records) {
			return first, nil
		}
		first = again
		if len(first.Records) == 0 {
			return first, nil
		}
	}
	return nil, fmt.Errorf("%d reads of shard %s disagreed", tries, shard)
}

// prefix reports whether a's records are the first records of b.
func prefix(a, b []types.Record) bool {
	if len(a) > len(b) {
		return false
	}
	for i := range a {
		if aws.ToString(a[i].EventID) != aws.ToString(b[i].EventID) {
			return false
		}
	}
	return true
}

// deliver hands records to the handler and returns how many were processed, the new position,
// and whether all of them were.
func (p *Poller) deliver(ctx context.Context, recs []types.Record) (int, *position, bool) {
	var batch events.DynamoDBEvent
	for _, r := range recs {
		ev := Convert(r)
		if pk, _ := key(ev); p.KeyPrefix == "" || strings.HasPrefix(pk, p.KeyPrefix) {
			batch.Records = append(batch.Records, ev)
		}
	}
	last := &position{seq: aws.ToString(recs[len(recs)-1].Dynamodb.SequenceNumber)}
	if len(batch.Records) == 0 {
		return len(recs), last, true
	}
	resp, err := p.Handle(ctx, batch)
	if err != nil {
		// A function error: Lambda retries the whole batch.
		p.logger().WarnContext(ctx, "stream handler failed; the batch is retried", "error", err.Error())
		return 0, at(aws.ToString(recs[0].Dynamodb.SequenceNumber)), false
	}
	if len(resp.BatchItemFailures) == 0 {
		return len(recs), last, true
	}
	// Lambda resumes from the lowest failed sequence number; an identifier it cannot find
	// fails the whole batch.
	failed := map[string]bool{}
	for _, f := range resp.BatchItemFailures {
		failed[f.ItemIdentifier] = true
	}
	for i, r := range recs {
		if seq := aws.ToString(r.Dynamodb.SequenceNumber); failed[seq] {
			return i, at(seq), false
		}
	}
	p.logger().WarnContext(ctx, "stream handler reported an unknown record; the batch is retried")
	return 0, at(aws.ToString(recs[0].Dynamodb.SequenceNumber)), false
}

// at is the position that reads seq next.
func at(seq string) *position { return &position{seq: seq, at: true} }

func key(r events.DynamoDBEventRecord) (string, bool) {
	v, ok := r.Change.Keys["pk"]
	if !ok || v.DataType() != events.DataTypeString {
		return "", false
	}
	return v.String(), true
}

func (p *Poller) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}
