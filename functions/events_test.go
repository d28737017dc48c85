package functions_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localserver"
	"github.com/tossgame/migration-server/shared/dev/streams"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/publish"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
	"github.com/tossgame/migration-server/shared/toss"
)

// End to end: the real handlers -> the table -> its stream -> the poller running functions/events'
// handler -> a local EventBridge bus -> a rule -> SQS, read back from the queue. No verdict waits
// on a clock: "no event" is proven by a later sentinel event arriving with nothing before it.

// delivered is one event read from the queue.
type delivered struct {
	devenv.Delivered
	d      detail
	fields map[string]any
}

type detail struct {
	EventID    string  `json:"eventId"`
	Sequence   string  `json:"sequence"`
	UserKey    string  `json:"userKey"`
	Hash       *string `json:"hash"`
	Referrer   *string `json:"referrer"`
	LinkedAt   string  `json:"linkedAt"`
	UnlinkedAt string  `json:"unlinkedAt"`
}

type evenv struct {
	*env
	mu       sync.Mutex
	got      []delivered // received, not yet returned by settle
	all      []delivered // every event received
	sentinel int64
}

// startEvents is start (flow_test.go) with the events path on; links replaces the link handler.
func startEvents(t *testing.T, opt devenv.Options, tweak func(*config.Config), link func(config.Config, *slog.Logger, *devenv.Stack) httpapi.Handler) *evenv {
	t.Helper()
	opt.Events = true
	logs := &devenv.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	opt.EventsLog = log
	if opt.Moto == nil {
		opt.Moto = devenv.TestMoto(t)
	}
	opt.Dir = t.TempDir()
	stack, err := devenv.Start(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)
	cfg := stack.Config()
	if tweak != nil {
		tweak(&cfg)
	}
	hs := devenv.Handlers(cfg, log, stack.DB, stack.SM)
	if link != nil {
		hs["link"] = link(cfg, log, stack)
	}
	srv := httptest.NewServer(localserver.Handler(hs, nil))
	t.Cleanup(srv.Close)
	return &evenv{env: &env{t: t, stack: stack, srv: srv, store: store.New(stack.DB, stack.Table), logs: logs}}
}

// receive takes what the queue holds now.
func (e *evenv) receive() {
	e.t.Helper()
	got, err := e.stack.Events.Receive(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, g := range got {
		d := delivered{Delivered: g}
		if err := json.Unmarshal(g.Detail, &d.d); err != nil {
			e.t.Fatalf("detail %s: %v", g.Detail, err)
		}
		json.Unmarshal(g.Detail, &d.fields)
		if g.Source != publish.Source {
			e.t.Errorf("event from source %q", g.Source)
		}
		e.got = append(e.got, d)
		e.all = append(e.all, d)
	}
}

// awaitBound only ends a test whose events never come; no verdict depends on it.
const awaitBound = 2 * time.Minute

// await receives until pred holds over everything not yet settled.
func (e *evenv) await(what string, pred func([]delivered) bool) {
	e.t.Helper()
	deadline := time.Now().Add(awaitBound)
	for {
		e.receive()
		e.mu.Lock()
		ok := pred(e.got)
		n := len(e.got)
		e.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			var keep []string
			for _, l := range strings.Split(e.logs.String(), "\n") {
				if !strings.Contains(l, `"records":0`) {
					keep = append(keep, l)
				}
			}
			e.t.Fatalf("%s: not there after %v; %d events received\n%s", what, awaitBound, n, tail(strings.Join(keep, "\n")))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// settle writes a sentinel (the unlink of a never-linked userKey of its own), waits for its event
// and returns every event that arrived before it: a user's records are in stream order and
// moto's stream has one shard, so anything the steps before it made has arrived by then.
func (e *evenv) settle() []delivered {
	e.t.Helper()
	e.sentinel++
	key := strconv.FormatInt(8_000_000_000+e.sentinel, 10)
	c, b := e.unlinkGET(key, e.stack.BasicAuth)
	want(e.t, "sentinel unlink", c, b, 200, `{"success":true}`)
	at := -1
	e.await("the sentinel's event", func(got []delivered) bool {
		for i, g := range got {
			if g.d.UserKey == key {
				at = i
				return true
			}
		}
		return false
	})
	e.mu.Lock()
	defer e.mu.Unlock()
	before := e.got[:at]
	e.got = append([]delivered(nil), e.got[at+1:]...)
	return before
}

func kinds(ds []delivered) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.DetailType+" "+d.d.UserKey)
	}
	return out
}

func str(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

func wantNone(t *testing.T, step string, got []delivered) {
	t.Helper()
	if len(got) != 0 {
		t.Fatalf("%s made events %v, want none", step, kinds(got))
	}
}

func wantOne(t *testing.T, step string, got []delivered, typ, userKey string) delivered {
	t.Helper()
	if len(got) != 1 || got[0].DetailType != typ || got[0].d.UserKey != userKey {
		t.Fatalf("%s made events %v, want one %s of %s", step, kinds(got), typ, userKey)
	}
	return got[0]
}

func TestEachCommittedWriteIsExactlyOneEventOnTheBus(t *testing.T) {
	t.Parallel()
	// Its own proxy, to fail this stack's transactions only; every profile field kept, to show
	// that none reaches an event.
	e := startEvents(t, devenv.Options{Moto: ownMoto(t)}, func(c *config.Config) { c.Keep = migration.ProfileFields }, nil)
	auth := e.stack.BasicAuth
	var codes []string
	code := func(userKey int64) string {
		c := e.code(userKey)
		codes = append(codes, c)
		return c
	}

	c, b := e.link("hash-a", code(1001))
	want(t, "link", c, b, 200, `{"success":true}`)
	ev := wantOne(t, "a link", e.settle(), publish.UserLinked, "1001")
	m, _ := e.store.Get(context.Background(), "hash-a")
	if str(ev.d.Hash) != "hash-a" || m == nil || ev.d.LinkedAt != m.LinkedAt {
		t.Errorf("UserLinked %s, want hash-a linked at %+v", ev.Detail, m)
	}
	if ev.d.EventID == "" || ev.d.Sequence == "" {
		t.Errorf("UserLinked %s has no eventId or sequence", ev.Detail)
	}

	c, b = e.link("hash-a", code(1001))
	want(t, "repeat link", c, b, 200, `{"success":true}`)
	wantNone(t, "a repeated link", e.settle())

	c, b = e.link("hash-b", code(1001))
	want(t, "conflicting link", c, b, 409, `"USER_ALREADY_LINKED"`)
	wantNone(t, "a conflicting link", e.settle())

	const tx = "DynamoDB_20120810.TransactWriteItems"
	e.stack.Moto.Proxy.SetFault(tx, devenv.FaultTxCancelled)
	c, b = e.link("hash-c", code(1002))
	want(t, "link whose transaction fails", c, b, 503, `"SERVICE_UNAVAILABLE"`)
	c, b = e.unlinkPOST("1001", auth)
	want(t, "unlink whose transaction fails", c, b, 503, `"SERVICE_UNAVAILABLE"`)
	e.stack.Moto.Proxy.SetFault(tx, devenv.FaultNone)
	wantNone(t, "failed transactions", e.settle())

	c, b = e.unlinkPOST("1001", auth)
	want(t, "unlink", c, b, 200, `{"success":true}`)
	ev = wantOne(t, "the unlink of a linked user", e.settle(), publish.UserUnlinked, "1001")
	if str(ev.d.Hash) != "hash-a" || str(ev.d.Referrer) != "WITHDRAWAL_TOSS" || ev.d.UnlinkedAt == "" {
		t.Errorf("UserUnlinked %s, want hash-a and referrer WITHDRAWAL_TOSS", ev.Detail)
	}

	c, b = e.unlinkGET("1003", auth)
	want(t, "unlink of a never-linked user", c, b, 200, `{"success":true}`)
	ev = wantOne(t, "the unlink of a never-linked user", e.settle(), publish.UserUnlinked, "1003")
	if v, present := ev.fields["hash"]; !present || v != nil || str(ev.d.Referrer) != "UNLINK" {
		t.Errorf("UserUnlinked %s, want hash null and referrer UNLINK", ev.Detail)
	}

	for _, key := range []string{"1001", "1003"} {
		c, b = e.unlinkGET(key, auth)
		want(t, "repeated unlink", c, b, 200, `{"success":true}`)
	}
	wantNone(t, "repeated unlinks while the tombstones live", e.settle())

	// Over the whole run: unique ids, a later event of a user has a larger sequence, and no
	// profile field, code, token or secret anywhere in what reached the queue.
	ids := map[string]bool{}
	last := map[string]string{}
	forbidden := append([]string{"홍길동", "01012345678", "19930324", "CI-VALUE-SENTINEL", "accessToken", auth, e.stack.AAD}, codes...)
	forbidden = append(forbidden, e.stack.Sim.IssuedTokens()...)
	for _, d := range e.all {
		if ids[d.d.EventID] {
			t.Errorf("eventId %s delivered twice", d.d.EventID)
		}
		ids[d.d.EventID] = true
		if prev, ok := last[d.d.UserKey]; ok && !later(d.d.Sequence, prev) {
			t.Errorf("user %s: sequence %s after %s", d.d.UserKey, d.d.Sequence, prev)
		}
		last[d.d.UserKey] = d.d.Sequence
		for _, f := range append(migration.ProfileFields, "profile") {
			if _, ok := d.fields[f]; ok {
				t.Errorf("%s carries %s", d.DetailType, f)
			}
		}
		for _, s := range forbidden {
			if s != "" && strings.Contains(d.Body, s) {
				t.Errorf("an event carries %q: %s", s, d.Body)
			}
		}
	}
}

// later compares decimal sequence numbers.
func later(a, b string) bool {
	if len(a) != len(b) {
		return len(a) > len(b)
	}
	return a > b
}

// A consumer that dies after publishing part of a batch, before it can report: Lambda (here the
// poller) retries the batch, and whatever was published twice carries the same eventId. A
// consumer that loses its checkpoints re-reads the stream from its start, with the same ids again.
func TestAConsumerCrashMidBatchLosesNothingAndRepeatsTheSameEventIDs(t *testing.T) {
	t.Parallel()
	const crashAt = "u#3002" // the batch holding this user's record crashes right after publishing it
	var crashed atomic.Bool
	wrap := func(h streams.Handler) streams.Handler {
		return func(ctx context.Context, b events.DynamoDBEvent) (events.DynamoDBEventResponse, error) {
			for i, r := range b.Records {
				if r.Change.Keys["pk"].String() == crashAt && crashed.CompareAndSwap(false, true) {
					h(ctx, events.DynamoDBEvent{Records: b.Records[:i+1]})
					return events.DynamoDBEventResponse{}, errors.New("the consumer crashed")
				}
			}
			return h(ctx, b)
		}
	}
	e := startEvents(t, devenv.Options{WrapEvents: wrap}, nil, nil)
	for _, key := range []string{"3001", "3002", "3003", "3004"} {
		c, b := e.unlinkGET(key, e.stack.BasicAuth)
		want(t, "unlink "+key, c, b, 200, `{"success":true}`)
	}
	got := e.settle()
	if !crashed.Load() {
		t.Fatal("the consumer never crashed")
	}
	byKey := map[string][]delivered{}
	for _, d := range got {
		byKey[d.d.UserKey] = append(byKey[d.d.UserKey], d)
	}
	for _, key := range []string{"3001", "3002", "3003", "3004"} {
		if len(byKey[key]) == 0 {
			t.Errorf("the event of %s was lost", key)
		}
		for _, d := range byKey[key][1:] {
			if string(d.Detail) != string(byKey[key][0].Detail) {
				t.Errorf("a redelivery of %s differs: %s vs %s", key, d.Detail, byKey[key][0].Detail)
			}
		}
	}
	if len(byKey["3002"]) < 2 {
		t.Errorf("%s was published before the crash and again after it: want it twice, got %d", crashAt, len(byKey["3002"]))
	}

	// A consumer that lost its checkpoints: everything again, with the same ids.
	first := map[string]string{}
	for _, d := range e.all {
		first[d.d.EventID] = string(d.Detail)
	}
	fresh := &streams.Poller{Streams: e.stack.Moto.Streams(), StreamArn: e.stack.Events.StreamArn, KeyPrefix: "u#", Confirm: true,
		Handle: (&publish.Publisher{EventBridge: e.stack.Moto.EventBridge(), Bus: e.stack.Events.Bus}).Handle}
	if st, err := fresh.Poll(context.Background()); err != nil || st.Failed != 0 {
		t.Fatalf("fresh poller: %+v %v", st, err)
	}
	e.await("every event again", func(got []delivered) bool {
		again := map[string]bool{}
		for _, d := range got {
			if first[d.d.EventID] == string(d.Detail) {
				again[d.d.EventID] = true
			}
		}
		return len(again) == len(first)
	})
}

// hookToss is the link's Toss client with a pause between the Toss exchange and the write: the
// test runs the unlink there, deterministically.
type hookToss struct {
	migration.Toss
	exchanged chan struct{} // closed when Login has its userKey
	release   chan struct{} // the link goes on when closed
}

func (h *hookToss) Login(ctx context.Context, code, referrer string, fields []string) (int64, map[string]string, string, error) {
	uk, p, token, err := h.Toss.Login(ctx, code, referrer, fields)
	close(h.exchanged)
	<-h.release
	return uk, p, token, err
}

func TestAnUnlinkThatCommitsWhileALinkTalksToTossWins(t *testing.T) {
	t.Parallel()
	hook := &hookToss{exchanged: make(chan struct{}), release: make(chan struct{})}
	link := func(c config.Config, log *slog.Logger, s *devenv.Stack) httpapi.Handler {
		// devenv.Link's wiring, with the hook around the Toss client.
		secret := secrets.NewCache(s.SM, c.SecretID, c.SecretTTL, secrets.ParseLink, log)
		hook.Toss = toss.NewPartner(c.TossBaseURL, c.TossRoots, secrets.Identity(secret))
		return httpapi.Link(&migration.Service{Store: store.New(s.DB, c.Table), Toss: hook, AllowSandbox: c.AllowSandbox, Log: log}, httpapi.Options{Log: log})
	}
	e := startEvents(t, devenv.Options{}, nil, link)

	type answer struct {
		code int
		body string
	}
	done := make(chan answer, 1)
	linkCode := e.code(4001)
	go func() {
		c, b := e.post("/api/auth/migration/link", `{"hash":"in-flight","authorizationCode":"`+linkCode+`","referrer":"SANDBOX"}`)
		done <- answer{c, b}
	}()
	<-hook.exchanged // Toss has answered; the link has not written yet
	c, b := e.unlinkGET("4001", e.stack.BasicAuth)
	want(t, "unlink during the link", c, b, 200, `{"success":true}`)
	close(hook.release)
	a := <-done
	want(t, "the link after the unlink", a.code, a.body, 400, `"INVALID_AUTHORIZATION_CODE"`)
	if !strings.Contains(a.body, "appLogin()") {
		t.Errorf("the answer %s does not tell the client to call appLogin() again", a.body)
	}
	want(t, "status", 200, e.status("in-flight"), 200, `{"isMapped":false}`)
	ev := wantOne(t, "the race", e.settle(), publish.UserUnlinked, "4001")
	if ev.d.Hash != nil {
		t.Errorf("UserUnlinked %s, want hash null: the link never committed", ev.Detail)
	}

	// The user logs in again: a new link, begun after the unlink, maps.
	hook2 := make(chan struct{})
	close(hook2)
	hook.exchanged, hook.release = make(chan struct{}), hook2
	c, b = e.link("in-flight", e.code(4001))
	want(t, "a new link", c, b, 200, `{"success":true}`)
	wantOne(t, "the new link", e.settle(), publish.UserLinked, "4001")
}

// tail is the end of a log, for a failure message.
func tail(s string) string {
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}
