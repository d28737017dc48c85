package functions_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localserver"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/secrets"
)

// countingSource counts the GetSecretValue calls that have returned. A cache fetches one at a
// time, so once three have returned after a change of the secret, the second of them began
// after the first ended, which was after the change: the value the cache holds is the new one.
// That is how the rotation test knows a change has been read, without sleeping on a margin.
type countingSource struct {
	secrets.Source
	mu   sync.Mutex
	cond *sync.Cond
	done int
}

func newCountingSource(src secrets.Source) *countingSource {
	c := &countingSource{Source: src}
	c.cond = sync.NewCond(&c.mu)
	return c
}

func (c *countingSource) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := c.Source.GetSecretValue(ctx, in, opts...)
	c.mu.Lock()
	c.done++
	c.cond.Broadcast()
	c.mu.Unlock()
	return out, err
}

// readAfterChange waits until the cache has certainly read the secret as it is now.
func (c *countingSource) readAfterChange() {
	c.mu.Lock()
	defer c.mu.Unlock()
	mark := c.done
	for c.done < mark+3 {
		c.cond.Wait()
	}
}

// stream is a steady flow of requests from a few workers, with every answer recorded.
type stream struct {
	mu       sync.Mutex
	cond     *sync.Cond
	next     int
	inflight map[int]bool
	ok       int
	failures []string
}

func newStream() *stream {
	s := &stream{inflight: map[int]bool{}}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *stream) begin() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.next
	s.next++
	s.inflight[n] = true
	return n
}

func (s *stream) end(n, status int, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inflight, n)
	if status == http.StatusOK {
		s.ok++
	} else {
		s.failures = append(s.failures, fmt.Sprintf("#%d: %d %s", n, status, body))
	}
	s.cond.Broadcast()
}

// moreOK waits for n more successful answers.
func (s *stream) moreOK(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for want := s.ok + n; s.ok < want && len(s.failures) == 0; {
		s.cond.Wait()
	}
}

// drain waits until every request begun so far has ended.
func (s *stream) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	last := s.next
	for {
		busy := false
		for n := range s.inflight {
			busy = busy || n < last
		}
		if !busy {
			return
		}
		s.cond.Wait()
	}
}

func (s *stream) report() (int, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ok, append([]string(nil), s.failures...)
}

// invoke calls h as Lambda would, with the functions' own 10 s timeout.
func invoke(t *testing.T, h httpapi.Handler, r *http.Request) (int, string) {
	ev, err := localserver.Event(r)
	if err != nil {
		t.Error(err)
		return 0, err.Error()
	}
	ctx, cancel := context.WithTimeout(context.Background(), relaxed)
	defer cancel()
	resp, err := h(ctx, ev)
	if err != nil {
		return 0, err.Error()
	}
	return resp.StatusCode, resp.Body
}

func linkRequest(hash, code string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/api/auth/migration/link",
		strings.NewReader(`{"hash":"`+hash+`","authorizationCode":"`+code+`","referrer":"SANDBOX"}`))
	r.Header.Set("Content-Type", "application/json")
	return r
}

func unlinkRequest(userKey int64, auth string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, fmt.Sprintf("/api/auth/toss/unlink?userKey=%d&referrer=UNLINK", userKey), nil)
	r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
	return r
}

// The done-when of issue 9: a warm link and a warm unlink container serve a steady stream of
// requests while the secret goes through a certificate rotation (one pair, two pairs, the old
// one removed and then deleted from the console) and a Basic Auth rotation (old, old and new,
// new only), and not one request fails; at the end the old credential is refused.
func TestRotatingTheCertificateAndTheBasicAuthInAWarmProcessFailsNoRequest(t *testing.T) {
	t.Parallel()
	stack := devenv.ForTest(t, devenv.Options{})
	cfg := stack.Config()
	cfg.SecretTTL = 0 // every request past a fetch refreshes; readAfterChange says when a change is in
	logs := &devenv.SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, nil))
	linkSrc, unlinkSrc := newCountingSource(stack.SM), newCountingSource(stack.SM)
	link := devenv.Link(cfg, log, stack.DB, linkSrc)
	unlink := devenv.Unlink(cfg, log, stack.DB, unlinkSrc)
	ctx := context.Background()

	doc := stack.Doc
	oldCert := []byte(doc.MTLSCertificate)
	now := time.Now()
	next, err := stack.ClientPair(now.Add(-time.Minute), now.AddDate(1, 0, 0)) // newer than the first
	if err != nil {
		t.Fatal(err)
	}
	const oldAuth, newAuth = devenv.DefaultBasicAuth, "local-unlink:ROTATED-SECRET"
	put := func() {
		t.Helper()
		if _, err := devenv.PutSecret(ctx, stack.SM, cfg.SecretID, doc); err != nil {
			t.Fatal(err)
		}
	}

	var console atomic.Value // what the Toss console sends as Basic Auth
	console.Store(oldAuth)
	links, unlinks := newStream(), newStream()
	stop := make(chan struct{})
	var workers sync.WaitGroup
	var seq atomic.Int64
	for range 3 {
		workers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				uk := 7_000_000 + n
				code := stack.Sim.Authorize(tosssim.FakeUser(uk), "SANDBOX")
				id := links.begin()
				status, body := invoke(t, link, linkRequest(fmt.Sprintf("rotation-%d", n), code))
				links.end(id, status, body)
			}
		})
	}
	for range 2 {
		workers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				id := unlinks.begin()
				status, body := invoke(t, unlink, unlinkRequest(9_000_000+n, console.Load().(string)))
				unlinks.end(id, status, body)
			}
		})
	}
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			workers.Wait()
		}
	}
	defer halt()

	links.moreOK(5)
	unlinks.moreOK(5)

	// Certificates: add the new pair beside the old one. The client moves to the newer.
	doc.MTLSCertificates = []secrets.PairJSON{next}
	put()
	linkSrc.readAfterChange()
	links.moreOK(5)
	if stack.Sim.Presented([]byte(next.Certificate)) == 0 {
		t.Errorf("five links after the new pair was read, none presented it")
	}
	// Remove the old pair from the secret; once no link that may hold it is left, delete it
	// from the console: Toss refuses it from now on.
	doc.MTLSCertificate, doc.MTLSPrivateKey = "", ""
	put()
	linkSrc.readAfterChange()
	links.drain()
	if err := stack.Sim.Revoke(oldCert); err != nil {
		t.Fatal(err)
	}
	links.moreOK(5)

	// Basic Auth: add the next value; then the console sends it; then it becomes the only one.
	doc.UnlinkBasicAuthNext = newAuth
	put()
	unlinkSrc.readAfterChange()
	console.Store(newAuth)
	unlinks.moreOK(5)
	doc.UnlinkBasicAuth, doc.UnlinkBasicAuthNext = newAuth, ""
	put()
	unlinkSrc.readAfterChange()
	unlinks.moreOK(5)
	halt()

	linked, linkFailures := links.report()
	unlinked, unlinkFailures := unlinks.report()
	for _, f := range append(linkFailures, unlinkFailures...) {
		t.Errorf("a request failed during the rotation: %s", f)
	}
	t.Logf("%d links and %d callbacks, all answered 200, while the secret rotated", linked, unlinked)

	if c, b := invoke(t, unlink, unlinkRequest(1, oldAuth)); c != http.StatusUnauthorized {
		t.Errorf("the old Basic Auth value after the rotation: %d %s, want 401", c, b)
	}
	if c, b := invoke(t, unlink, unlinkRequest(1, newAuth)); c != http.StatusOK {
		t.Errorf("the new Basic Auth value: %d %s", c, b)
	}
	for _, s := range []string{newAuth, "ROTATED-SECRET", "PRIVATE KEY", "-----BEGIN"} {
		if strings.Contains(logs.String(), s) {
			t.Errorf("the logs contain %q", s)
		}
	}
}
