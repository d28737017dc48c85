package secrets

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/httpapi"
)

var quiet = slog.New(slog.DiscardHandler)

// clock is a settable time source shared by a cache and its test.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// gate is a Secrets Manager stand-in whose answers can be held back: while closed, every call
// blocks until it opens. It counts calls and announces each arrival.
type gate struct {
	mu      sync.Mutex
	value   string
	open    chan struct{}
	calls   int
	arrived chan struct{}
}

func newGate(value string) *gate {
	g := &gate{value: value, open: make(chan struct{}), arrived: make(chan struct{}, 100)}
	close(g.open)
	return g
}

func (g *gate) hold() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
}

func (g *gate) release(value string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.value = value
	close(g.open)
}

func (g *gate) count() int { g.mu.Lock(); defer g.mu.Unlock(); return g.calls }

func (g *gate) GetSecretValue(ctx context.Context, _ *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	g.mu.Lock()
	g.calls++
	open := g.open
	g.mu.Unlock()
	g.arrived <- struct{}{}
	select {
	case <-open:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	g.mu.Lock()
	v := g.value
	g.mu.Unlock()
	return &secretsmanager.GetSecretValueOutput{SecretString: &v}, nil
}

// waitingCtx counts the callers that went to wait on something (their Done was asked for): a
// way to know, without sleeping, that every goroutine is parked in the cache.
type waitingCtx struct {
	context.Context
	waiting *atomic.Int32
}

func (c waitingCtx) Done() <-chan struct{} {
	c.waiting.Add(1)
	return c.Context.Done()
}

func TestReadersWithAValidCachedValueDoNotWaitForARefresh(t *testing.T) {
	t.Parallel()
	g := newGate(`{"unlinkBasicAuth":"v1"}`)
	clk := &clock{now: time.Unix(1000, 0)}
	c := NewCache(g, "id", time.Minute, ParseUnlink, quiet)
	c.now = clk.Now
	ctx := context.Background()
	if v, err := c.Get(ctx); err != nil || v.BasicAuth != "v1" {
		t.Fatalf("first get: %+v %v", v, err)
	}
	<-g.arrived

	clk.Add(2 * time.Minute) // stale
	g.hold()
	refreshed := make(chan Unlink)
	go func() {
		v, _ := c.Get(ctx) // the refresher: it waits for Secrets Manager
		refreshed <- v
	}()
	<-g.arrived // the refresh is inside GetSecretValue, and stays there

	// Every other reader gets the cached value at once: none waits for the held refresh (if one
	// did, wg.Wait would never return, since nothing releases the gate before it).
	var wg sync.WaitGroup
	var wrong atomic.Int32
	for range 50 {
		wg.Go(func() {
			if v, err := c.Get(ctx); err != nil || v.BasicAuth != "v1" {
				wrong.Add(1)
			}
		})
	}
	wg.Wait()
	if wrong.Load() != 0 || g.count() != 2 {
		t.Fatalf("%d readers got something else than the cached value; %d fetches, want 2", wrong.Load(), g.count())
	}

	g.release(`{"unlinkBasicAuth":"v2"}`)
	if v := <-refreshed; v.BasicAuth != "v2" {
		t.Fatalf("the refresher got %+v", v)
	}
	if v, _ := c.Get(ctx); v.BasicAuth != "v2" || g.count() != 2 {
		t.Errorf("after the refresh: %+v, %d fetches", v, g.count())
	}
}

func TestConcurrentColdMissesShareOneFetch(t *testing.T) {
	t.Parallel()
	g := newGate(`{"unlinkBasicAuth":"v1"}`)
	g.hold()
	c := NewCache(g, "id", time.Minute, ParseUnlink, quiet)
	var waiting atomic.Int32
	ctx := waitingCtx{context.Background(), &waiting}
	const n = 30
	got := make(chan Unlink, n)
	for range n {
		go func() {
			v, err := c.Get(ctx)
			if err != nil {
				t.Error(err)
			}
			got <- v
		}()
	}
	<-g.arrived
	for waiting.Load() < n { // every caller is parked on the one fetch
		time.Sleep(time.Millisecond)
	}
	g.release(`{"unlinkBasicAuth":"v1"}`)
	for range n {
		if v := <-got; v.BasicAuth != "v1" {
			t.Errorf("got %+v", v)
		}
	}
	if g.count() != 1 {
		t.Errorf("%d fetches for %d concurrent misses, want 1", g.count(), n)
	}
}

func TestACallerThatGivesUpDoesNotFailTheOthersWaitingForTheSameFetch(t *testing.T) {
	t.Parallel()
	g := newGate(`{"unlinkBasicAuth":"v1"}`)
	g.hold()
	c := NewCache(g, "id", time.Minute, ParseUnlink, quiet)
	impatient, cancel := context.WithCancel(context.Background())
	first := make(chan error)
	go func() { _, err := c.Get(impatient); first <- err }()
	<-g.arrived
	second := make(chan Unlink)
	go func() { v, _ := c.Get(context.Background()); second <- v }()
	cancel()
	if err := <-first; !errors.Is(err, apperr.ErrUnavailable) || !errors.Is(err, context.Canceled) {
		t.Errorf("the impatient caller: %v", err)
	}
	g.release(`{"unlinkBasicAuth":"v1"}`)
	if v := <-second; v.BasicAuth != "v1" {
		t.Errorf("the patient caller got %+v", v)
	}
}

// fakeSM answers GetSecretValue like Secrets Manager (JSON 1.1, errors by __type), so that the
// real SDK client classifies its errors as it would in production.
type fakeSM struct {
	mu     sync.Mutex
	status int    // 0: answer the value
	code   string // the error's __type
	mode   string // "reset": drop the connection; "hang": never answer
	value  string
	calls  int
}

func (f *fakeSM) set(status int, code, mode string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status, f.code, f.mode = status, code, mode
}

func (f *fakeSM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.calls++
	status, code, mode, value := f.status, f.code, f.mode, f.value
	f.mu.Unlock()
	switch mode {
	case "reset":
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	case "hang":
		// Read the request first: net/http notices a client hanging up only once the body is read.
		io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if status != 0 {
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"__type":"%s","Message":"simulated %s"}`, code, code)
		return
	}
	fmt.Fprintf(w, `{"ARN":"arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:s-AbCdEf","Name":"s","SecretString":%q,"VersionId":"v"}`, value)
}

func (f *fakeSM) client(t *testing.T) *secretsmanager.Client {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return secretsmanager.NewFromConfig(aws.Config{Region: "ap-northeast-2",
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")},
		func(o *secretsmanager.Options) { o.BaseEndpoint = aws.String(srv.URL) })
}

func TestAGoneSecretStopsServingAndABlipServesTheLastGoodValue(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name         string
		status       int
		code, mode   string
		gone         bool
		wantOutcome  string
		coldRequests int // GetSecretValue calls a cold cache makes on this failure (SDK retries)
	}{
		{"deleted (ResourceNotFoundException)", 400, "ResourceNotFoundException", "", true, FetchGone, 1},
		{"marked for deletion (InvalidRequestException)", 400, "InvalidRequestException", "", true, FetchGone, 1},
		{"access denied (AccessDeniedException)", 400, "AccessDeniedException", "", true, FetchGone, 1},
		{"its KMS key unusable (DecryptionFailure)", 400, "DecryptionFailure", "", true, FetchGone, 1},
		{"a SECRET_ID that names nothing (InvalidParameterException)", 400, "InvalidParameterException", "", true, FetchGone, 1},
		{"throttled (ThrottlingException)", 400, "ThrottlingException", "", false, FetchTransient, 0},
		{"a server error (InternalServiceError)", 500, "InternalServiceError", "", false, FetchTransient, 0},
		{"unavailable (503)", 503, "ServiceUnavailable", "", false, FetchTransient, 0},
		{"the connection dropped", 0, "", "reset", false, FetchTransient, 0},
		{"no answer within the refresh timeout", 0, "", "hang", false, FetchTransient, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sm := &fakeSM{value: `{"unlinkBasicAuth":"good"}`}
			clk := &clock{now: time.Unix(1000, 0)}
			var outcomes []string
			var mu sync.Mutex
			c := NewCache(sm.client(t), "s", time.Minute, ParseUnlink, quiet)
			c.now = clk.Now
			c.OnFetch = func(_ context.Context, f Fetch) { mu.Lock(); outcomes = append(outcomes, f.Outcome); mu.Unlock() }
			ctx := context.Background()
			if v, err := c.Get(ctx); err != nil || v.BasicAuth != "good" {
				t.Fatalf("first get: %+v %v", v, err)
			}

			clk.Add(2 * time.Minute)
			sm.set(tc.status, tc.code, tc.mode)
			v, err := c.Get(ctx)
			if tc.gone {
				if !errors.Is(err, ErrGone) || !errors.Is(err, apperr.ErrNotConfigured) || v.BasicAuth != "" {
					t.Fatalf("a gone secret: %+v, %v; want ErrGone and no value", v, err)
				}
				// And it stays refused: the cached value is dropped, not kept for later.
				if v, err := c.Get(ctx); !errors.Is(err, ErrGone) || v.BasicAuth != "" {
					t.Fatalf("the next get: %+v, %v", v, err)
				}
				// Restored: served again once the failure's pause is over.
				sm.set(0, "", "")
				clk.Add(retryAfter)
				if v, err := c.Get(ctx); err != nil || v.BasicAuth != "good" {
					t.Fatalf("after the restore: %+v, %v", v, err)
				}
			} else if err != nil || v.BasicAuth != "good" {
				t.Fatalf("a blip: %+v, %v; want the last good value", v, err)
			}
			mu.Lock()
			if len(outcomes) < 2 || outcomes[0] != FetchOK || outcomes[1] != tc.wantOutcome {
				t.Errorf("outcomes %v, want ok then %s", outcomes, tc.wantOutcome)
			}
			mu.Unlock()
		})
	}
}

func TestAColdCacheOnAGoneSecretFailsClosedAndDoesNotAskOnEveryRequest(t *testing.T) {
	t.Parallel()
	sm := &fakeSM{status: 400, code: "ResourceNotFoundException"}
	clk := &clock{now: time.Unix(1000, 0)}
	c := NewCache(sm.client(t), "s", time.Minute, ParseUnlink, quiet)
	c.now = clk.Now
	for range 20 {
		if _, err := c.Get(context.Background()); !errors.Is(err, ErrGone) {
			t.Fatalf("err %v, want ErrGone", err)
		}
	}
	if sm.calls != 1 {
		t.Errorf("%d GetSecretValue calls for 20 requests within the pause, want 1", sm.calls)
	}
}

// unlinkDomain counts deletions: none may happen on a refused callback.
type unlinkDomain struct{ calls atomic.Int32 }

func (d *unlinkDomain) Unlink(context.Context, int64, string) (bool, error) {
	d.calls.Add(1)
	return false, nil
}

func callback(auth string) events.APIGatewayV2HTTPRequest {
	r := events.APIGatewayV2HTTPRequest{Version: "2.0", RawQueryString: "userKey=7&referrer=UNLINK",
		Headers: map[string]string{"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(auth))}}
	r.RequestContext.HTTP.Method = http.MethodGet
	return r
}

func TestAFloodOfWrongCredentialsCostsOneGetSecretValuePerForceInterval(t *testing.T) {
	t.Parallel()
	g := newGate(`{"unlinkBasicAuth":"id:right"}`)
	go func() {
		for range g.arrived { // nobody waits on arrivals here
		}
	}()
	clk := &clock{now: time.Unix(1000, 0)}
	c := NewCache(g, "id", 5*time.Minute, ParseUnlink, quiet)
	c.now = clk.Now
	d := &unlinkDomain{}
	h := httpapi.Unlink(d, BasicAuth(c), httpapi.Options{Log: quiet})

	// 1,000 wrong credentials, one every 100 ms of the cache's clock: 100 s.
	const n, step = 1000, 100 * time.Millisecond
	for i := range n {
		resp, _ := h(context.Background(), callback(fmt.Sprintf("id:guess-%d", i)))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, resp.StatusCode)
		}
		clk.Add(step)
	}
	// The first fetch, then one forced refresh at 0 s, 5 s, ... 95 s: 20.
	want := 1 + int((n*step+DefaultForceInterval-1)/DefaultForceInterval)
	if got := g.count(); got != want {
		t.Errorf("%d GetSecretValue calls for %d wrong credentials over %v, want %d", got, n, n*step, want)
	}
	// The same flood, 200 at once at one instant: at most one more.
	before := g.count()
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() { h(context.Background(), callback(fmt.Sprintf("id:burst-%d", i))) })
	}
	wg.Wait()
	if got := g.count() - before; got > 1 {
		t.Errorf("%d GetSecretValue calls for a burst of 200 wrong credentials, want at most 1", got)
	}
	if d.calls.Load() != 0 {
		t.Errorf("%d deletions on wrong credentials", d.calls.Load())
	}
	t.Logf("GetSecretValue calls: %d for %d wrong credentials over %v; %d for a burst of 200", want, n, n*step, g.count()-before)
}

func TestARotatedBasicAuthValueIsPickedUpOnItsFirstUseNotAfterTheTTL(t *testing.T) {
	t.Parallel()
	g := newGate(`{"unlinkBasicAuth":"id:old"}`)
	go func() {
		for range g.arrived {
		}
	}()
	clk := &clock{now: time.Unix(1000, 0)}
	c := NewCache(g, "id", 5*time.Minute, ParseUnlink, quiet)
	c.now = clk.Now
	d := &unlinkDomain{}
	h := httpapi.Unlink(d, BasicAuth(c), httpapi.Options{Log: quiet})
	if resp, _ := h(context.Background(), callback("id:old")); resp.StatusCode != 200 {
		t.Fatalf("old value: %d", resp.StatusCode)
	}
	// The operator adds the next value, then changes the console: the very next callback carries it.
	g.mu.Lock()
	g.value = `{"unlinkBasicAuth":"id:old","unlinkBasicAuthNext":"id:new"}`
	g.mu.Unlock()
	clk.Add(time.Second) // far inside the TTL
	if resp, _ := h(context.Background(), callback("id:new")); resp.StatusCode != 200 {
		t.Fatalf("the next value on its first use: %d", resp.StatusCode)
	}
	if resp, _ := h(context.Background(), callback("id:old")); resp.StatusCode != 200 {
		t.Fatalf("the current value during the rotation: %d", resp.StatusCode)
	}
	if g.count() != 2 {
		t.Errorf("%d fetches, want 2 (the first, and one forced)", g.count())
	}
}
