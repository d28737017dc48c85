package store_test

// The race suite: links and unlinks released at once against DynamoDB Local, with readers that
// check the invariants of contract §5 while the race runs (not only at its end), and crashes
// injected between any two calls of a link. The checkers report violations instead of failing
// the test directly, so that TestCheckersCatchBrokenStores can prove that each of them fails
// against stores that are wrong in the ways a review would miss.

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/store"
)

// mappingStore is what the race suite needs of a store. realStore's methods are the only lines
// that know the store's signatures: when Link gains an argument, only they change.
type mappingStore interface {
	Link(ctx context.Context, hash string, userKey int64) error
	Unlink(ctx context.Context, userKey int64) (string, error)
	IsMapped(ctx context.Context, hash string) (bool, error)
}

type realStore struct{ t *store.Table }

func newRealStore(db rawDB, table string) mappingStore { return realStore{store.New(db, table)} }

func (s realStore) Link(ctx context.Context, hash string, userKey int64) error {
	return s.t.Link(ctx, hash, userKey, time.Now(), nil)
}
func (s realStore) Unlink(ctx context.Context, userKey int64) (string, error) {
	return s.t.Unlink(ctx, userKey, "UNLINK")
}
func (s realStore) IsMapped(ctx context.Context, hash string) (bool, error) {
	return s.t.IsMapped(ctx, hash)
}

// rawDB is the DynamoDB API of the broken stores, the readers and crashDB. It embeds
// store.DynamoDB, so that crashDB intercepts every call the store can make.
type rawDB interface {
	store.DynamoDB
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error)
	TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error)
}

var _ rawDB = (*dynamodb.Client)(nil)

type storeKind struct {
	name string
	new  func(db rawDB, table string) mappingStore
}

var (
	realKind         = storeKind{"real", newRealStore}
	compensatingKind = storeKind{"compensating", newCompensating}
	twoPutsKind      = storeKind{"twoputs", newTwoPuts}
)

// storeUnderTest is the store the race tests run against: the real one, unless STORE_UNDER_TEST
// names a broken one, to watch the suite fail against it:
//
//	STORE_UNDER_TEST=compensating go test -count=1 -run 'TestRace' ./shared/store/
func storeUnderTest(t *testing.T) storeKind {
	switch name := os.Getenv("STORE_UNDER_TEST"); name {
	case "", realKind.name:
		return realKind
	case compensatingKind.name:
		return compensatingKind
	case twoPutsKind.name:
		return twoPutsKind
	default:
		t.Fatalf("STORE_UNDER_TEST=%q: want real, compensating or twoputs", name)
		return storeKind{}
	}
}

// ---- what counts as a mapping (contract §10, including the schema still to come) ----

func hashPK(hash string) string   { return "h#" + hash }
func userPK(userKey int64) string { return "u#" + strconv.FormatInt(userKey, 10) }
func keyOf(pk string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{store.KeyAttribute: &types.AttributeValueMemberS{Value: pk}}
}

// partnerOf is what an item says its key is mapped to: for h# the userKey, for u# the hash; ""
// when the item is absent or is not a mapping. A u# item is a mapping when its state is
// "linked", or (the schema before §10's tombstones) when it has no state but a hash; a tombstone
// or an operator marker is not.
func partnerOf(pk string, item map[string]types.AttributeValue) string {
	if item == nil {
		return ""
	}
	if strings.HasPrefix(pk, "h#") {
		if n, ok := item["userKey"].(*types.AttributeValueMemberN); ok {
			return n.Value
		}
		return "(h# item without a userKey)"
	}
	h, hasHash := item["hash"].(*types.AttributeValueMemberS)
	switch readState, hasState := item["state"].(*types.AttributeValueMemberS); {
	case hasState && readState.Value != "linked":
		return ""
	case hasState && !hasHash:
		return "(linked u# item without a hash)"
	case !hasHash:
		return ""
	}
	return h.Value
}

// ---- violations ----

const (
	kindAnswers  = "wrong answers"          // the racers' answers break the 1:1 rule or lie
	kindHalf     = "half mapping seen"      // a reader saw one side of a mapping without the other
	kindVanished = "mapping vanished"       // a mapping disappeared or changed with no unlink issued
	kindEnd      = "bad end state"          // the race left the table inconsistent or lost a link
	kindLeftover = "crash left a half link" // a crash between two calls left something behind
	kindError    = "unexpected error"       // not a verdict on the invariants: a call failed
)

type violations struct {
	mu   sync.Mutex
	list []string
	kind map[string]int
}

func (v *violations) add(kind, format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.kind == nil {
		v.kind = map[string]int{}
	}
	v.kind[kind]++
	if len(v.list) < 20 { // enough to read; a broken store can produce thousands
		v.list = append(v.list, kind+": "+fmt.Sprintf(format, args...))
	}
}

func (v *violations) count(kind string) int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.kind[kind]
}

// detected reports whether an invariant checker fired (errors alone are not a detection).
func (v *violations) detected() bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, n := range v.kind {
		if k != kindError && n > 0 {
			return true
		}
	}
	return false
}

func (v *violations) String() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	kinds := make([]string, 0, len(v.kind))
	for k, n := range v.kind {
		kinds = append(kinds, fmt.Sprintf("%s ×%d", k, n))
	}
	sort.Strings(kinds)
	return strings.Join(kinds, ", ") + "\n  " + strings.Join(v.list, "\n  ")
}

func (v *violations) report(t *testing.T) {
	t.Helper()
	if len(v.kind) > 0 {
		t.Errorf("%s", v)
	}
}

// ---- unlink clocks: when may a mapping legitimately disappear? ----

// clock counts the unlinks of one user issued and returned. Only an unlink can remove a
// mapping, so a reader that saw a mapping and later sees it gone has found a violation when no
// unlink of that user was in flight in between. With f = finished read before the first read
// and s = started read after the last: s == f means every unlink started by then had returned
// before the first read began.
type raceClock struct{ started, finished atomic.Int64 }

type marks map[int64]int64 // user -> finished, read before a read

// ---- one race ----

type round struct {
	ctx    context.Context
	db     rawDB // the real client: readers are never crashed
	table  string
	s      mappingStore
	hashes []string
	users  []int64
	clocks map[int64]*raceClock
	v      *violations

	mu   sync.Mutex
	seen map[string]obs // pk -> the last mapping a reader saw there
}

// obs is a mapping a reader saw, with the unlink clocks read before that read.
type obs struct {
	partner string // "*": mapped to someone (IsMapped says no more)
	user    int64  // whose unlink may remove it; -1: anyone's
	marks   marks
}

func newRound(ctx context.Context, e raceEnv, s mappingStore, v *violations, hashes []string, users []int64) *round {
	r := &round{ctx: ctx, db: e.db, table: e.table, s: s, hashes: hashes, users: users,
		clocks: map[int64]*raceClock{}, v: v, seen: map[string]obs{}}
	for _, u := range users {
		r.clocks[u] = &raceClock{}
	}
	return r
}

func (r *round) marks() marks {
	m := make(marks, len(r.clocks))
	for u, c := range r.clocks {
		m[u] = c.finished.Load()
	}
	return m
}

// quiet: no unlink of user (of anyone for -1) was in flight since m was read.
func (r *round) quiet(user int64, m marks) bool {
	if user == -1 {
		for u, c := range r.clocks {
			if c.started.Load() != m[u] {
				return false
			}
		}
		return true
	}
	c, ok := r.clocks[user]
	return ok && c.started.Load() == m[user]
}

// op is one racer: a link (hash set) or an unlink.
type op struct {
	hash string
	user int64
	err  error
	// for a link: the user's finished unlinks before it began. Its write commits somewhere
	// between its start and its answer, so only an unlink in flight after its start can undo it.
	mark int64
}

func linkOp(hash string, user int64) op { return op{hash: hash, user: user} }
func unlinkOp(user int64) op            { return op{user: user} }

// run releases every op at once while readers check the invariants, then reads the end state.
// It returns hash -> userKey of the mappings left.
func (r *round) run(ops []op, readers int) map[string]string {
	start, done := make(chan struct{}), make(chan struct{})
	var racers, watchers sync.WaitGroup
	for i := range readers {
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			rng := rand.New(rand.NewPCG(uint64(i), rand.Uint64()))
			<-start
			for {
				select {
				case <-done:
					return
				default:
				}
				r.readOnce(rng)
			}
		}()
	}
	for i := range ops {
		racers.Add(1)
		go func() {
			defer racers.Done()
			o := &ops[i]
			<-start
			if o.hash == "" {
				c := r.clocks[o.user]
				c.started.Add(1)
				_, o.err = r.s.Unlink(r.ctx, o.user)
				c.finished.Add(1)
				return
			}
			if c, ok := r.clocks[o.user]; ok {
				o.mark = c.finished.Load()
			}
			o.err = r.s.Link(r.ctx, o.hash, o.user)
		}()
	}
	close(start)
	racers.Wait()
	close(done)
	watchers.Wait()
	return r.final()
}

func (r *round) readOnce(rng *rand.Rand) {
	switch rng.IntN(4) {
	case 0:
		r.snapshot()
	case 1:
		r.pairFromHash(r.hashes[rng.IntN(len(r.hashes))])
	case 2:
		r.pairFromUser(r.users[rng.IntN(len(r.users))])
	default:
		r.isMapped(r.hashes[rng.IntN(len(r.hashes))])
	}
}

func (r *round) get(pk string) (map[string]types.AttributeValue, bool) {
	out, err := r.db.GetItem(r.ctx, &dynamodb.GetItemInput{TableName: &r.table, Key: keyOf(pk), ConsistentRead: aws.Bool(true)})
	if err != nil {
		r.v.add(kindError, "read %s: %v", pk, err)
		return nil, false
	}
	return out.Item, true
}

// pending is a read in progress: what was seen at pk before it, and the clocks before it.
type pending struct {
	r       *round
	pk      string
	prev    obs
	hadPrev bool
	m       marks
}

func (r *round) before(pk string) pending {
	r.mu.Lock()
	prev, ok := r.seen[pk]
	r.mu.Unlock()
	return pending{r: r, pk: pk, prev: prev, hadPrev: ok, m: r.marks()}
}

// after records what the read found at pk ("" = no mapping) and reports a mapping that went
// away, or changed, while no unlink that could do it was in flight.
func (p pending) after(partner string) {
	r := p.r
	if p.hadPrev && p.prev.partner != partner && !(p.prev.partner == "*" && partner != "") &&
		!(partner == "*") && r.quiet(p.prev.user, p.prev.marks) {
		r.v.add(kindVanished, "%s was mapped to %s, then read %q, and no unlink that could remove it was issued in between",
			p.pk, p.prev.partner, partner)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case partner == "":
		delete(r.seen, p.pk)
	case partner == "*":
		if _, known := r.seen[p.pk]; !known {
			r.seen[p.pk] = obs{partner: "*", user: -1, marks: p.m}
		}
	default:
		user := int64(-1)
		if strings.HasPrefix(p.pk, "u#") {
			user, _ = strconv.ParseInt(p.pk[2:], 10, 64)
		} else if u, err := strconv.ParseInt(partner, 10, 64); err == nil {
			user = u
		}
		r.seen[p.pk] = obs{partner: partner, user: user, marks: p.m}
	}
}

// pairFromHash reads h#hash, then the u# item it names: that must point back, unless an unlink
// of that user was in flight meanwhile.
func (r *round) pairFromHash(hash string) {
	p := r.before(hashPK(hash))
	item, ok := r.get(hashPK(hash))
	if !ok {
		return
	}
	uk := partnerOf(p.pk, item)
	p.after(uk)
	if uk == "" {
		return
	}
	user, err := strconv.ParseInt(uk, 10, 64)
	if err != nil || r.clocks[user] == nil {
		r.v.add(kindHalf, "%s -> %q, a user outside the race", p.pk, uk)
		return
	}
	q := r.before(userPK(user))
	back, ok := r.get(userPK(user))
	if !ok {
		return
	}
	h := partnerOf(q.pk, back)
	q.after(h)
	if h != hash && r.quiet(user, p.m) {
		r.v.add(kindHalf, "%s -> %s, then %s -> %q, and no unlink of %d was in flight", p.pk, uk, q.pk, h, user)
	}
}

// pairFromUser is pairFromHash from the other side.
func (r *round) pairFromUser(user int64) {
	p := r.before(userPK(user))
	item, ok := r.get(userPK(user))
	if !ok {
		return
	}
	hash := partnerOf(p.pk, item)
	p.after(hash)
	if hash == "" {
		return
	}
	q := r.before(hashPK(hash))
	fwd, ok := r.get(hashPK(hash))
	if !ok {
		return
	}
	uk := partnerOf(q.pk, fwd)
	q.after(uk)
	if uk != strconv.FormatInt(user, 10) && r.quiet(user, p.m) {
		r.v.add(kindHalf, "%s -> %s, then %s -> %q, and no unlink of %d was in flight", p.pk, hash, q.pk, uk, user)
	}
}

// isMapped asks the store itself; it can only tell presence, which must not vanish either.
func (r *round) isMapped(hash string) {
	p := r.before(hashPK(hash))
	ok, err := r.s.IsMapped(r.ctx, hash)
	if err != nil {
		r.v.add(kindError, "IsMapped(%s): %v", hash, err)
		return
	}
	if ok {
		p.after("*")
	} else {
		p.after("")
	}
}

// snapshot reads every key of the race in one TransactGetItems: a serialisable view, in which
// every mapping must have its other side, whatever is in flight.
func (r *round) snapshot() {
	pks := make([]string, 0, len(r.hashes)+len(r.users))
	for _, h := range r.hashes {
		pks = append(pks, hashPK(h))
	}
	for _, u := range r.users {
		pks = append(pks, userPK(u))
	}
	gets := make([]types.TransactGetItem, len(pks))
	pend := make([]pending, len(pks))
	for i, pk := range pks {
		gets[i] = types.TransactGetItem{Get: &types.Get{TableName: &r.table, Key: keyOf(pk)}}
		pend[i] = r.before(pk)
	}
	out, err := r.db.TransactGetItems(r.ctx, &dynamodb.TransactGetItemsInput{TransactItems: gets})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		return // it met a write in flight: no view this time
	}
	if err != nil {
		r.v.add(kindError, "TransactGetItems: %v", err)
		return
	}
	view := map[string]string{}
	for i, pk := range pks {
		view[pk] = partnerOf(pk, out.Responses[i].Item)
		pend[i].after(view[pk])
	}
	r.checkView(view, kindHalf, "in one snapshot")
}

// checkView: in a consistent view every mapping's other side points back.
func (r *round) checkView(view map[string]string, kind, when string) {
	for pk, partner := range view {
		if partner == "" {
			continue
		}
		var back, want string
		if strings.HasPrefix(pk, "h#") {
			back, want = "u#"+partner, pk[2:]
		} else {
			back, want = "h#"+partner, pk[2:]
		}
		other, inRace := view[back]
		switch {
		case !inRace:
			r.v.add(kind, "%s: %s -> %s, outside the race", when, pk, partner)
		case other != want:
			r.v.add(kind, "%s: %s -> %s, but %s -> %q", when, pk, partner, back, other)
		}
	}
}

// final reads every key once the race is over (each read also checks nothing vanished) and
// checks the state left is consistent.
func (r *round) final() map[string]string {
	view := map[string]string{}
	for _, h := range r.hashes {
		p := r.before(hashPK(h))
		item, _ := r.get(p.pk)
		view[p.pk] = partnerOf(p.pk, item)
		p.after(view[p.pk])
	}
	for _, u := range r.users {
		p := r.before(userPK(u))
		item, _ := r.get(p.pk)
		view[p.pk] = partnerOf(p.pk, item)
		p.after(view[p.pk])
	}
	r.checkView(view, kindEnd, "after the race")
	pairs := map[string]string{}
	for pk, partner := range view {
		if strings.HasPrefix(pk, "h#") && partner != "" {
			pairs[pk[2:]] = partner
		}
	}
	return pairs
}

// linkAnswerOK: the answers a racing link may give. ErrUnlinkedMeanwhile is the answer of a link
// that an unlink of its user overtook (contract §10: the unlink wins).
func linkAnswerOK(err error) bool {
	return err == nil || errors.Is(err, apperr.ErrHashLinked) || errors.Is(err, apperr.ErrUserLinked) ||
		errors.Is(err, apperr.ErrUnlinkedMeanwhile)
}

// ---- the scenarios ----

type raceEnv struct {
	db    rawDB
	table string
}

// Sizes: 16 racers and 4 readers keep two shared cores busy without starving other tests.
const (
	racers  = 16
	readers = 4
)

type scenario struct {
	name string
	run  func(ctx context.Context, e raceEnv, s mappingStore, round int, v *violations)
}

var scenarios = []scenario{
	{"one hash, many users", oneHashManyUsers},
	{"one user, many hashes", oneUserManyHashes},
	{"links racing unlinks", linksRacingUnlinks},
}

// oneHashManyUsers: racers users link one hash; exactly one wins, the rest hear
// HASH_ALREADY_LINKED.
func oneHashManyUsers(ctx context.Context, e raceEnv, s mappingStore, rnd int, v *violations) {
	hash := fmt.Sprintf("contended-%d-%d", rnd, rand.Uint32())
	users := make([]int64, racers)
	ops := make([]op, racers)
	base := rand.Int64N(1 << 40)
	for i := range users {
		users[i] = base + int64(i)
	}
	r := newRound(ctx, e, s, v, []string{hash}, users)
	for i, u := range users {
		ops[i] = linkOp(hash, u)
	}
	pairs := r.run(ops, readers)
	winners := checkExclusive(v, ops, apperr.ErrHashLinked)
	if len(winners) == 1 && pairs[hash] != strconv.FormatInt(winners[0].user, 10) {
		v.add(kindEnd, "%s ends mapped to %q, but user %d won", hash, pairs[hash], winners[0].user)
	}
}

// oneUserManyHashes: one user links racers hashes; exactly one wins, the rest hear
// USER_ALREADY_LINKED.
func oneUserManyHashes(ctx context.Context, e raceEnv, s mappingStore, rnd int, v *violations) {
	user := rand.Int64N(1 << 40)
	hashes := make([]string, racers)
	ops := make([]op, racers)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("h-%d-%d-%d", rnd, user, i)
	}
	r := newRound(ctx, e, s, v, hashes, []int64{user})
	for i, h := range hashes {
		ops[i] = linkOp(h, user)
	}
	pairs := r.run(ops, readers)
	winners := checkExclusive(v, ops, apperr.ErrUserLinked)
	if len(winners) == 1 && (len(pairs) != 1 || pairs[winners[0].hash] != strconv.FormatInt(user, 10)) {
		v.add(kindEnd, "user %d won with %s, but the table holds %v", user, winners[0].hash, pairs)
	}
}

// checkExclusive: one success, every other answer the given conflict.
func checkExclusive(v *violations, ops []op, conflict error) []op {
	var winners []op
	var conflicts int
	for _, o := range ops {
		switch {
		case o.err == nil:
			winners = append(winners, o)
		case errors.Is(o.err, conflict):
			conflicts++
		default:
			v.add(kindError, "link(%s, %d): %v", o.hash, o.user, o.err)
		}
	}
	if len(winners) != 1 || conflicts != len(ops)-1 {
		v.add(kindAnswers, "%d links succeeded and %d heard %q, want 1 and %d", len(winners), conflicts, conflict, len(ops)-1)
	}
	return winners
}

// linksRacingUnlinks: a few users and a few hashes, links of random pairs racing unlinks of
// the same users. Any answer of the conflict family may be right; what must hold is that no
// reader sees half a mapping, nothing vanishes but by an unlink, and a link that answered
// success, with no unlink of its user in flight from its start on, is still there at the end.
func linksRacingUnlinks(ctx context.Context, e raceEnv, s mappingStore, rnd int, v *violations) {
	base := rand.Int64N(1 << 40)
	users := []int64{base, base + 1, base + 2, base + 3}
	hashes := make([]string, 6)
	for i := range hashes {
		hashes[i] = fmt.Sprintf("r-%d-%d-%d", rnd, base, i)
	}
	r := newRound(ctx, e, s, v, hashes, users)
	var ops []op
	for i := range racers {
		ops = append(ops, linkOp(hashes[rand.IntN(len(hashes))], users[i%len(users)]))
		// Only the first two users are unlinked: the links of the other two compete for the
		// same hashes, and must then stay.
		if i%2 == 0 {
			ops = append(ops, unlinkOp(users[(i/2)%2]))
		}
	}
	pairs := r.run(ops, readers)
	for _, o := range ops {
		switch {
		case o.hash == "" && o.err != nil:
			v.add(kindError, "unlink(%d): %v", o.user, o.err)
		case o.hash != "" && !linkAnswerOK(o.err):
			v.add(kindError, "link(%s, %d): %v", o.hash, o.user, o.err)
		case o.hash != "" && o.err == nil && r.clocks[o.user].started.Load() == o.mark &&
			pairs[o.hash] != strconv.FormatInt(o.user, 10):
			v.add(kindEnd, "link(%s, %d) answered success, no unlink of %d was in flight from its start on, and the table holds %v",
				o.hash, o.user, o.user, pairs)
		}
	}
}

func newRaceEnv(t *testing.T) raceEnv {
	db, name := newTableName(t)
	return raceEnv{db: db, table: name}
}

// raceRounds is how many rounds each race runs against the store under test.
const raceRounds = 15

func TestRaceOneHashManyUsers(t *testing.T)  { runRace(t, scenarios[0]) }
func TestRaceOneUserManyHashes(t *testing.T) { runRace(t, scenarios[1]) }
func TestRaceLinksRacingUnlinks(t *testing.T) {
	runRace(t, scenarios[2])
}

func runRace(t *testing.T, sc scenario) {
	t.Parallel()
	kind := storeUnderTest(t)
	e := newRaceEnv(t)
	v := &violations{}
	for rnd := range raceRounds {
		sc.run(context.Background(), e, kind.new(e.db, e.table), rnd, v)
		if v.detected() {
			t.Errorf("%s store, %s, round %d:", kind.name, sc.name, rnd)
			break
		}
	}
	v.report(t)
}

// ---- crashes ----

var errCrashed = errors.New("crashed: this process is gone")

// crashDB lets the first allow calls through and refuses every later one, as a process that
// died after its allow-th call would: nothing after the crash reaches DynamoDB.
type crashDB struct {
	db      rawDB
	allow   int
	mu      sync.Mutex
	calls   int
	refused int
}

func (c *crashDB) pass() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls++
	if c.calls > c.allow {
		c.refused++
		return false
	}
	return true
}

func (c *crashDB) GetItem(ctx context.Context, in *dynamodb.GetItemInput, o ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if !c.pass() {
		return nil, errCrashed
	}
	return c.db.GetItem(ctx, in, o...)
}

func (c *crashDB) PutItem(ctx context.Context, in *dynamodb.PutItemInput, o ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if !c.pass() {
		return nil, errCrashed
	}
	return c.db.PutItem(ctx, in, o...)
}

func (c *crashDB) DeleteItem(ctx context.Context, in *dynamodb.DeleteItemInput, o ...func(*dynamodb.Options)) (*dynamodb.DeleteItemOutput, error) {
	if !c.pass() {
		return nil, errCrashed
	}
	return c.db.DeleteItem(ctx, in, o...)
}

func (c *crashDB) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if !c.pass() {
		return nil, errCrashed
	}
	return c.db.TransactWriteItems(ctx, in, o...)
}

func (c *crashDB) TransactGetItems(ctx context.Context, in *dynamodb.TransactGetItemsInput, o ...func(*dynamodb.Options)) (*dynamodb.TransactGetItemsOutput, error) {
	if !c.pass() {
		return nil, errCrashed
	}
	return c.db.TransactGetItems(ctx, in, o...)
}

// state is the mapping view of some keys (pk -> partner, "" none), read after the fact.
func readState(ctx context.Context, e raceEnv, pks ...string) (map[string]string, error) {
	m := map[string]string{}
	for _, pk := range pks {
		out, err := e.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &e.table, Key: keyOf(pk), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return nil, err
		}
		m[pk] = partnerOf(pk, out.Item)
	}
	return m, nil
}

func equalState(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// crashLinks crashes a link after each k = 0, 1, 2, … of its calls, until a link completes
// within k calls, from four starting points. After the crash the keys involved must hold what
// they held before, or (only where the link may succeed) the whole new mapping: never a part.
func crashLinks(ctx context.Context, e raceEnv, kind storeKind, v *violations) {
	setups := []struct {
		name     string
		mayLink  bool
		want     error                                         // the uncrashed link's answer
		existing func(hash string, user int64) (string, int64) // a pair linked first; "" for none
	}{
		{"fresh pair", true, nil, func(string, int64) (string, int64) { return "", 0 }},
		{"user linked to another hash", false, apperr.ErrUserLinked, func(h string, u int64) (string, int64) { return h + "-other", u }},
		{"hash linked to another user", false, apperr.ErrHashLinked, func(h string, u int64) (string, int64) { return h, u + 1 }},
		{"the same pair again", true, nil, func(h string, u int64) (string, int64) { return h, u }},
	}
	for _, su := range setups {
		for k := 0; ; k++ {
			if k > 20 {
				v.add(kindError, "%s: the link never completed within %d calls", su.name, k)
				break
			}
			user := rand.Int64N(1 << 40)
			hash := fmt.Sprintf("crash-%d-%d", user, k)
			pks := []string{hashPK(hash), userPK(user)}
			if eh, eu := su.existing(hash, user); eh != "" {
				if err := newRealStore(e.db, e.table).Link(ctx, eh, eu); err != nil {
					v.add(kindError, "%s: set-up link(%s, %d): %v", su.name, eh, eu, err)
					return
				}
				pks = append(pks, hashPK(eh), userPK(eu))
			}
			before, err := readState(ctx, e, pks...)
			if err != nil {
				v.add(kindError, "%s: %v", su.name, err)
				return
			}
			c := &crashDB{db: e.db, allow: k}
			linkErr := kind.new(c, e.table).Link(ctx, hash, user)
			after, err := readState(ctx, e, pks...)
			if err != nil {
				v.add(kindError, "%s: %v", su.name, err)
				return
			}
			linked := map[string]string{}
			for pk, p := range before {
				linked[pk] = p
			}
			linked[hashPK(hash)], linked[userPK(user)] = strconv.FormatInt(user, 10), hash
			switch {
			case equalState(after, before):
				if c.refused == 0 && linkErr == nil && su.mayLink && !equalState(before, linked) {
					v.add(kindEnd, "%s: link answered success and stored nothing", su.name)
				}
			case su.mayLink && equalState(after, linked):
			default:
				v.add(kindLeftover, "%s, crash after call %d: before %v, after %v", su.name, k, before, after)
			}
			if c.refused == 0 {
				if linkErr != su.want && !errors.Is(linkErr, su.want) || su.want == nil && linkErr != nil {
					v.add(kindAnswers, "%s: uncrashed link answered %v, want %v", su.name, linkErr, su.want)
				}
				break // the link ran to its end: every crash point has been tried
			}
		}
	}
}

// crashUnlinks does the same for an unlink of a linked user: afterwards the mapping is whole
// or gone, never half.
func crashUnlinks(ctx context.Context, e raceEnv, kind storeKind, v *violations) {
	for k := 0; ; k++ {
		if k > 20 {
			v.add(kindError, "the unlink never completed within %d calls", k)
			return
		}
		user := rand.Int64N(1 << 40)
		hash := fmt.Sprintf("crash-unlink-%d", user)
		if err := newRealStore(e.db, e.table).Link(ctx, hash, user); err != nil {
			v.add(kindError, "set-up: %v", err)
			return
		}
		c := &crashDB{db: e.db, allow: k}
		_, unlinkErr := kind.new(c, e.table).Unlink(ctx, user)
		after, err := readState(ctx, e, hashPK(hash), userPK(user))
		if err != nil {
			v.add(kindError, "%v", err)
			return
		}
		whole := after[hashPK(hash)] == strconv.FormatInt(user, 10) && after[userPK(user)] == hash
		gone := after[hashPK(hash)] == "" && after[userPK(user)] == ""
		if !whole && !gone {
			v.add(kindLeftover, "unlink crashed after call %d left %v", k, after)
		}
		if c.refused == 0 {
			if unlinkErr != nil || !gone {
				v.add(kindAnswers, "uncrashed unlink answered %v and left %v", unlinkErr, after)
			}
			return
		}
	}
}

func TestRaceCrashBetweenAnyTwoCallsOfALinkLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	kind := storeUnderTest(t)
	e := newRaceEnv(t)
	v := &violations{}
	crashLinks(context.Background(), e, kind, v)
	crashUnlinks(context.Background(), e, kind, v)
	v.report(t)
}

// ---- proof that the checkers can fail ----

// TestCheckersCatchBrokenStores runs every checker against two stores that are wrong in the
// ways issue 10 names, and requires each checker to notice. The races are retried for a bounded
// number of rounds until a violation shows; a violation is a fact observed, never a timing.
func TestCheckersCatchBrokenStores(t *testing.T) {
	t.Parallel()
	// The kind each broken store must be caught with: the compensating store keeps the 1:1 rule
	// and ends each race consistent, so only the readers that watch the race can catch it.
	want := map[string]map[string]string{
		compensatingKind.name: {
			scenarios[0].name: kindHalf,
			scenarios[1].name: kindVanished,
			scenarios[2].name: "",
		},
		twoPutsKind.name: {
			scenarios[0].name: kindAnswers,
			scenarios[1].name: kindAnswers,
			scenarios[2].name: "",
		},
	}
	const maxRounds = 200
	for _, kind := range []storeKind{compensatingKind, twoPutsKind} {
		t.Run(kind.name, func(t *testing.T) {
			t.Parallel()
			e := newRaceEnv(t)
			for _, sc := range scenarios {
				v := &violations{}
				k := want[kind.name][sc.name]
				caught := func() bool { return k == "" && v.detected() || k != "" && v.count(k) > 0 }
				rounds := 0
				for rounds < maxRounds && !caught() {
					sc.run(context.Background(), e, kind.new(e.db, e.table), rounds, v)
					rounds++
				}
				if !caught() {
					t.Errorf("%s: %d rounds and no checker noticed the %s store (want %q): %v", sc.name, rounds, kind.name, k, v)
					continue
				}
				t.Logf("%s: caught after %d round(s): %v", sc.name, rounds, v)
			}
			v := &violations{}
			crashLinks(context.Background(), e, kind, v)
			if v.count(kindLeftover) == 0 {
				t.Errorf("crash: no leftover found in the %s store: %v", kind.name, v)
			}
			t.Logf("crash: %v", v)
		})
	}
}

// ---- the broken stores ----

// compensating links with two conditional PutItems and deletes the first when the second fails:
// it keeps the 1:1 rule, but half a mapping is visible in between, a loser's hash item appears
// and vanishes, and a crash between the two leaves half behind.
type compensating struct {
	db    rawDB
	table string
	real  mappingStore
}

func newCompensating(db rawDB, table string) mappingStore {
	return compensating{db: db, table: table, real: newRealStore(db, table)}
}

func (s compensating) Link(ctx context.Context, hash string, userKey int64) error {
	uk := strconv.FormatInt(userKey, 10)
	_, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table,
		Item: map[string]types.AttributeValue{
			store.KeyAttribute: &types.AttributeValueMemberS{Value: hashPK(hash)},
			"userKey":          &types.AttributeValueMemberN{Value: uk}},
		ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var failed *types.ConditionalCheckFailedException
	if errors.As(err, &failed) {
		if partnerOf(hashPK(hash), failed.Item) == uk {
			return nil
		}
		return apperr.ErrHashLinked
	}
	if err != nil {
		return fmt.Errorf("%w: %w", apperr.ErrUnavailable, err)
	}
	_, err = s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table,
		Item: map[string]types.AttributeValue{
			store.KeyAttribute: &types.AttributeValueMemberS{Value: userPK(userKey)},
			"hash":             &types.AttributeValueMemberS{Value: hash}},
		ConditionExpression:                 aws.String("attribute_not_exists(pk)"),
		ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	if err == nil {
		return nil
	}
	// Compensate: take back the hash item written above.
	_, _ = s.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &s.table, Key: keyOf(hashPK(hash)),
		ConditionExpression:       aws.String("userKey = :u"),
		ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberN{Value: uk}}})
	if errors.As(err, &failed) {
		return apperr.ErrUserLinked
	}
	return fmt.Errorf("%w: %w", apperr.ErrUnavailable, err)
}

func (s compensating) Unlink(ctx context.Context, userKey int64) (string, error) {
	return s.real.Unlink(ctx, userKey)
}

func (s compensating) IsMapped(ctx context.Context, hash string) (bool, error) {
	return s.real.IsMapped(ctx, hash)
}

// twoPuts checks both keys are free, then writes the two items with plain PutItems: two
// racers can both pass the check, and a crash between the puts leaves half behind.
type twoPuts struct{ compensating }

func newTwoPuts(db rawDB, table string) mappingStore {
	return twoPuts{compensating{db: db, table: table, real: newRealStore(db, table)}}
}

func (s twoPuts) Link(ctx context.Context, hash string, userKey int64) error {
	uk := strconv.FormatInt(userKey, 10)
	for _, pk := range []string{hashPK(hash), userPK(userKey)} {
		out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{TableName: &s.table, Key: keyOf(pk), ConsistentRead: aws.Bool(true)})
		if err != nil {
			return fmt.Errorf("%w: %w", apperr.ErrUnavailable, err)
		}
		switch p := partnerOf(pk, out.Item); {
		case p == "":
		case pk == hashPK(hash) && p != uk:
			return apperr.ErrHashLinked
		case pk == userPK(userKey) && p != hash:
			return apperr.ErrUserLinked
		}
	}
	for _, item := range []map[string]types.AttributeValue{
		{store.KeyAttribute: &types.AttributeValueMemberS{Value: hashPK(hash)}, "userKey": &types.AttributeValueMemberN{Value: uk}},
		{store.KeyAttribute: &types.AttributeValueMemberS{Value: userPK(userKey)}, "hash": &types.AttributeValueMemberS{Value: hash}},
	} {
		if _, err := s.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &s.table, Item: item}); err != nil {
			return fmt.Errorf("%w: %w", apperr.ErrUnavailable, err)
		}
	}
	return nil
}
