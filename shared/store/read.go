package store

// The operator's view of the table (contract §10): lookups by hash or userKey, batched reads of
// many users, parallel-segment scans and counts. The functions never use it; migrationctl does.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// AdminAPI is the part of the SDK client the operator's tool uses: the store's calls, plus scans,
// batched reads and the table's description.
type AdminAPI interface {
	DynamoDB
	BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error)
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, opts ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

var _ AdminAPI = (*dynamodb.Client)(nil)

// Admin reads the whole table and applies operator fixes. It is safe for concurrent use.
type Admin struct {
	db   AdminAPI
	name string
	now  func() time.Time
}

// NewAdmin returns the operator's view of the named table.
func NewAdmin(db AdminAPI, table string) *Admin {
	return &Admin{db: db, name: table, now: time.Now}
}

// User is a u# item. Which fields are set depends on State; an item written before u# items had
// a state (it has only hash) reads as linked.
type User struct {
	UserKey int64
	State   string

	// linked
	Hash         string
	LinkedAt     string
	PreviousHash string // after a move
	Operator     string // after a move (linked) or an unmap (removed)
	Reason       string // likewise

	// unlinked
	UnlinkedHash string // "" for a user who was never linked
	Referrer     string

	// removed
	RemovedHash string

	// unlinked and removed
	At        string
	ExpiresAt int64 // epoch seconds; DynamoDB's TTL deletes the item some time after
}

// Linked reports whether the user holds a mapping.
func (u *User) Linked() bool { return u != nil && u.State == StateLinked }

func userFromItem(item map[string]types.AttributeValue) (User, error) {
	pk := strAttr(item, KeyAttribute)
	uk, err := parseUserKey(strings.TrimPrefix(pk, "u#"))
	if err != nil || !strings.HasPrefix(pk, "u#") {
		return User{}, fmt.Errorf("store: item %q is not a user item", pk)
	}
	u := User{
		UserKey: uk, State: strAttr(item, "state"),
		Hash: strAttr(item, "hash"), LinkedAt: strAttr(item, "linkedAt"), PreviousHash: strAttr(item, "previousHash"),
		Operator: strAttr(item, "operator"), Reason: strAttr(item, "reason"),
		UnlinkedHash: strAttr(item, "unlinkedHash"), Referrer: strAttr(item, "referrer"),
		RemovedHash: strAttr(item, "removedHash"), At: strAttr(item, "at"),
	}
	if u.State == "" && u.Hash != "" {
		u.State = StateLinked // written by the store before §10's states
	}
	if v := numAttr(item, "expiresAt"); v != "" {
		u.ExpiresAt, _ = strconv.ParseInt(v, 10, 64)
	}
	return u, nil
}

func mappingFromItem(item map[string]types.AttributeValue) (Mapping, error) {
	pk := strAttr(item, KeyAttribute)
	uk, err := parseUserKey(numAttr(item, "userKey"))
	if err != nil || !strings.HasPrefix(pk, "h#") {
		return Mapping{}, fmt.Errorf("store: item %q is not a mapping with a userKey", pk)
	}
	m := Mapping{Hash: pk[2:], UserKey: uk, LinkedAt: strAttr(item, "linkedAt")}
	if p, ok := item["profile"].(*types.AttributeValueMemberM); ok {
		m.Profile = make(map[string]string, len(p.Value))
		for k, v := range p.Value {
			if s, ok := v.(*types.AttributeValueMemberS); ok {
				m.Profile[k] = s.Value
			}
		}
	}
	return m, nil
}

func parseUserKey(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errors.New("not a non-negative decimal userKey")
	}
	return n, nil
}

// ByHash returns the mapping held by h#<hash>, or nil. The read is strongly consistent.
func (a *Admin) ByHash(ctx context.Context, hash string) (*Mapping, error) {
	item, err := a.get(ctx, hashKey(hash))
	if err != nil || item == nil {
		return nil, err
	}
	m, err := mappingFromItem(item)
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// ByUserKey returns u#<userKey>, or nil. The read is strongly consistent.
func (a *Admin) ByUserKey(ctx context.Context, userKey int64) (*User, error) {
	item, err := a.get(ctx, userKeyKey(userKey))
	if err != nil || item == nil {
		return nil, err
	}
	u, err := userFromItem(item)
	if err != nil {
		return nil, err
	}
	return &u, nil
}

func (a *Admin) get(ctx context.Context, key map[string]types.AttributeValue) (map[string]types.AttributeValue, error) {
	out, err := a.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &a.name, Key: key, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return nil, unavailable("read item", err)
	}
	return out.Item, nil
}

// TableInfo is DescribeTable's view: ItemCount and SizeBytes are DynamoDB's estimates, refreshed
// about every six hours, never an exact count.
type TableInfo struct {
	Name      string
	Status    string
	ItemCount int64
	SizeBytes int64
	Stream    string // the stream's view type, "" when the table has no stream
}

// Describe returns the table's description; a missing table is a *types.ResourceNotFoundException.
func (a *Admin) Describe(ctx context.Context) (TableInfo, error) {
	out, err := a.db.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: &a.name})
	if err != nil {
		return TableInfo{}, unavailable("describe table", err)
	}
	t := out.Table
	info := TableInfo{Name: a.name, Status: string(t.TableStatus), ItemCount: aws.ToInt64(t.ItemCount), SizeBytes: aws.ToInt64(t.TableSizeBytes)}
	if s := t.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
		info.Stream = string(s.StreamViewType)
	}
	return info, nil
}

// BatchGetLimit is how many keys one BatchGetItem may ask for.
const BatchGetLimit = 100

// Users reads u#<k> for every k in userKeys (at most BatchGetLimit a call, workers calls at once)
// and calls fn for each item that exists, from one goroutine at a time. Keys DynamoDB leaves
// unprocessed (throttling, the 16 MB answer limit) are asked for again, with a backoff, until
// none are left or ctx ends. done, when not nil, is told how many keys each call settled.
func (a *Admin) Users(ctx context.Context, userKeys []int64, workers int, fn func(User) error, done func(n int)) error {
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan []int64)
	results := make(chan []User, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for keys := range batches {
				users, err := a.batch(ctx, keys)
				if err != nil {
					cancel(err)
					return
				}
				select {
				case results <- users:
				case <-ctx.Done():
					return
				}
				if done != nil {
					done(len(keys))
				}
			}
		}()
	}
	go func() {
		defer close(batches)
		for i := 0; i < len(userKeys); i += BatchGetLimit {
			select {
			case batches <- userKeys[i:min(i+BatchGetLimit, len(userKeys))]:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for users := range results {
		for _, u := range users {
			if err := fn(u); err != nil {
				cancel(err)
				for range results { // let the workers finish
				}
				return err
			}
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// userAttributes is what coverage needs of a u# item.
var userAttributes = []string{KeyAttribute, "state", "hash"}

func (a *Admin) batch(ctx context.Context, userKeys []int64) ([]User, error) {
	keys := make([]map[string]types.AttributeValue, len(userKeys))
	for i, k := range userKeys {
		keys[i] = userKeyKey(k)
	}
	proj, names := projection(userAttributes)
	req := map[string]types.KeysAndAttributes{a.name: {Keys: keys, ProjectionExpression: proj,
		ExpressionAttributeNames: names, ConsistentRead: aws.Bool(true)}}
	var users []User
	pending, stalled := len(keys), 0
	for try := 0; ; try++ {
		out, err := a.db.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return nil, unavailable("batch read users", err)
		}
		for _, item := range out.Responses[a.name] {
			u, err := userFromItem(item)
			if err != nil {
				return nil, err
			}
			users = append(users, u)
		}
		left, ok := out.UnprocessedKeys[a.name]
		if !ok || len(left.Keys) == 0 {
			return users, nil
		}
		if len(left.Keys) < pending {
			pending, stalled = len(left.Keys), 0
		} else if stalled++; stalled >= maxStalled {
			return nil, unavailable("batch read users", fmt.Errorf("DynamoDB left %d keys unprocessed %d times in a row (throttled)", pending, stalled))
		}
		req = out.UnprocessedKeys
		// DynamoDB asks for an exponential backoff before the unprocessed keys are sent again.
		if err := sleep(ctx, backoff(try)); err != nil {
			return nil, unavailable("batch read users", err)
		}
	}
}

// maxStalled is how many answers in a row may settle none of the keys left before Users gives up.
const maxStalled = 20

func backoff(try int) time.Duration {
	d := 20 * time.Millisecond << min(try, 6)
	return min(d, time.Second)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ScanOptions shape a full-table scan.
type ScanOptions struct {
	// Segments is how many parallel scan segments read the table (1 = a plain scan).
	Segments int
	// Consistent makes every page a strongly consistent read (twice the read cost).
	Consistent bool
	// PageSize caps the items DynamoDB examines per call (0: its 1 MB pages). Smaller pages keep
	// the memory of a scan small whatever the items' size, for a few more calls.
	PageSize int
	// Progress, when not nil, is told after every page how many items DynamoDB examined.
	Progress func(examined int)
}

// MaxSegments bounds ScanOptions.Segments: beyond this a scan only adds calls.
const MaxSegments = 64

// ScanMappings calls fn for every h# item (every mapping), from one goroutine at a time, in no
// particular order. Memory stays bounded by about two pages (1 MB each) per segment, whatever
// the table's size. withProfile reads the kept profile fields too.
func (a *Admin) ScanMappings(ctx context.Context, opt ScanOptions, withProfile bool, fn func(Mapping) error) error {
	attrs := []string{KeyAttribute, "userKey", "linkedAt"}
	if withProfile {
		attrs = append(attrs, "profile")
	}
	return a.scan(ctx, opt, "h#", attrs, func(item map[string]types.AttributeValue) error {
		m, err := mappingFromItem(item)
		if err != nil {
			return err
		}
		return fn(m)
	})
}

// ScanUsers calls fn for every u# item with the attributes coverage needs (state and hash).
func (a *Admin) ScanUsers(ctx context.Context, opt ScanOptions, fn func(User) error) error {
	return a.scan(ctx, opt, "u#", userAttributes, func(item map[string]types.AttributeValue) error {
		u, err := userFromItem(item)
		if err != nil {
			return err
		}
		return fn(u)
	})
}

// Counts is one pass over the whole table.
type Counts struct {
	Items       int64            // every item examined
	Mapped      int64            // h# items: the exact number of mappings
	LinkedUsers int64            // u# items in state linked: equals Mapped unless the table is damaged
	LinksPerDay map[string]int64 // mappings by the UTC day of their linkedAt ("2006-01-02"; "unknown" when absent)
	// Unlinks by referrer, from the tombstones still in the table (each lives its TTL).
	UnlinksPerReferrer map[string]int64
	// Unlinks of users who were never linked (a tombstone without unlinkedHash), among the above.
	NeverLinkedUnlinks int64
	Removed            int64 // operator removals still marked (each lives its TTL)
	Other              int64 // items that are neither h# nor u#
}

// Count reads every item once and tallies it.
func (a *Admin) Count(ctx context.Context, opt ScanOptions) (Counts, error) {
	c := Counts{LinksPerDay: map[string]int64{}, UnlinksPerReferrer: map[string]int64{}}
	attrs := []string{KeyAttribute, "linkedAt", "state", "hash", "referrer", "unlinkedHash"}
	err := a.scan(ctx, opt, "", attrs, func(item map[string]types.AttributeValue) error {
		c.Items++
		pk := strAttr(item, KeyAttribute)
		switch {
		case strings.HasPrefix(pk, "h#"):
			c.Mapped++
			day := "unknown"
			if at := strAttr(item, "linkedAt"); len(at) >= 10 {
				day = at[:10]
			}
			c.LinksPerDay[day]++
		case strings.HasPrefix(pk, "u#"):
			u, err := userFromItem(item)
			if err != nil {
				c.Other++
				return nil
			}
			switch u.State {
			case StateLinked:
				c.LinkedUsers++
			case StateUnlinked:
				c.UnlinksPerReferrer[u.Referrer]++
				if u.UnlinkedHash == "" {
					c.NeverLinkedUnlinks++
				}
			case StateRemoved:
				c.Removed++
			default:
				c.Other++
			}
		default:
			c.Other++
		}
		return nil
	})
	return c, err
}

// scan reads the table with opt.Segments parallel segments. Each segment sends its pages to this
// goroutine, which calls fn on every item: fn never runs concurrently, and at most one page per
// segment waits in the channel, so memory does not grow with the table.
func (a *Admin) scan(ctx context.Context, opt ScanOptions, prefix string, attrs []string, fn func(map[string]types.AttributeValue) error) error {
	segments := min(max(opt.Segments, 1), MaxSegments)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	proj, names := projection(attrs)
	var filter *string
	var values map[string]types.AttributeValue
	if prefix != "" {
		filter = aws.String("begins_with(#pk, :prefix)")
		names["#pk"] = KeyAttribute
		values = map[string]types.AttributeValue{":prefix": &types.AttributeValueMemberS{Value: prefix}}
	}
	pages := make(chan []map[string]types.AttributeValue, segments)
	var wg sync.WaitGroup
	for seg := range segments {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := &dynamodb.ScanInput{
				TableName: &a.name, ProjectionExpression: proj, ExpressionAttributeNames: names,
				FilterExpression: filter, ExpressionAttributeValues: values,
				ConsistentRead: aws.Bool(opt.Consistent),
			}
			if segments > 1 {
				in.Segment, in.TotalSegments = aws.Int32(int32(seg)), aws.Int32(int32(segments))
			}
			if opt.PageSize > 0 {
				in.Limit = aws.Int32(int32(opt.PageSize))
			}
			for {
				out, err := a.db.Scan(ctx, in)
				if err != nil {
					cancel(unavailable("scan", err))
					return
				}
				if opt.Progress != nil {
					opt.Progress(int(out.ScannedCount))
				}
				select {
				case pages <- out.Items:
				case <-ctx.Done():
					return
				}
				if len(out.LastEvaluatedKey) == 0 {
					return
				}
				in.ExclusiveStartKey = out.LastEvaluatedKey
			}
		}()
	}
	go func() { wg.Wait(); close(pages) }()
	for page := range pages {
		for _, item := range page {
			if err := fn(item); err != nil {
				cancel(err)
				for range pages {
				}
				return err
			}
		}
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

// projection names every attribute through a placeholder: "state" and others are reserved words.
func projection(attrs []string) (*string, map[string]string) {
	names := make(map[string]string, len(attrs)+1)
	refs := make([]string, len(attrs))
	for i, a := range attrs {
		ref := "#a" + strconv.Itoa(i)
		names[ref], refs[i] = a, ref
	}
	return aws.String(strings.Join(refs, ", ")), names
}
