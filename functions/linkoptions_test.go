package functions_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
)

func TestAWrongAADWithNoKeptFieldsStillLinks(t *testing.T) {
	t.Parallel()
	e := newFx(t, nil)
	arn := e.secretWith(func(d *secrets.Document) { d.AAD = "NOT-THE-EMAILED-AAD" })
	keepNone := e.newLink(func(c *config.Config) { c.SecretID, c.Keep = arn, nil })
	c, b := e.doLink(keepNone, relaxed, "no-kept-fields", e.mint(601))
	want(t, "wrong AAD, nothing kept", c, b, 200, `{"success":true}`)
	if m, err := e.store.Get(context.Background(), "no-kept-fields"); err != nil || m == nil || m.UserKey != 601 || len(m.Profile) != 0 {
		t.Fatalf("stored %+v %v, want the userKey alone", m, err)
	}
	// Keeping a field needs the AAD: the same secret then fails the link, which writes nothing.
	keepName := e.newLink(func(c *config.Config) { c.SecretID, c.Keep = arn, []string{"name"} })
	before := e.snapshot()
	c, b = e.doLink(keepName, relaxed, "kept-field", e.mint(602))
	want(t, "wrong AAD, name kept", c, b, 503, `"SERVICE_UNAVAILABLE"`)
	e.sameStore(before)
}

func TestASandboxLinkIsRefusedUnlessAllowedAndSpendsNoCode(t *testing.T) {
	t.Parallel()
	e := newFx(t, nil)
	refusing := e.newLink(func(c *config.Config) { c.AllowSandbox = false })
	before := e.snapshot()
	e.stack.Sim.ResetCounters()
	code := e.mint(611) // minted for referrer SANDBOX
	c, b := e.doLink(refusing, relaxed, "sandbox-hash", code)
	want(t, "a sandbox link where refused", c, b, 400, `"SANDBOX_NOT_ALLOWED"`)
	e.sameStore(before)
	if n := e.stack.Sim.Calls(tosssim.GenerateToken); n != 0 {
		t.Fatalf("generate-token called %d times for a refused sandbox link", n)
	}
	// Allowed (the dev stack's setting), the same code links: it was never spent.
	c, b = e.doLink(e.link, relaxed, "sandbox-hash", code)
	want(t, "the same link where allowed", c, b, 200, `{"success":true}`)

	// A blank hash is refused before anything too, whatever the referrer.
	for _, h := range []string{" ", "\u3164", "\u2800\u00a0"} {
		hb, _ := json.Marshal(h)
		r := httptest.NewRequest(http.MethodPost, "/api/auth/migration/link",
			strings.NewReader(`{"hash":`+string(hb)+`,"authorizationCode":"c","referrer":"DEFAULT"}`))
		r.Header.Set("Content-Type", "application/json")
		c, b := e.call(e.link, relaxed, r)
		want(t, "blank hash "+string(hb), c, b, 400, `"INVALID_REQUEST"`)
	}
	if n := e.stack.Sim.Calls(tosssim.GenerateToken); n != 1 {
		t.Errorf("generate-token called %d times, want 1 (the allowed link)", n)
	}
}

func TestRemovingTheTossLoginAtLinkNeverFailsTheLink(t *testing.T) {
	t.Parallel()
	e := newFx(t, func(c *config.Config) { c.RemoveTossLogin = true })
	c, b := e.doLink(e.link, relaxed, "removed-1", e.mint(621))
	want(t, "link", c, b, 200, `{"success":true}`)
	if e.stack.Sim.Integrated(621) {
		t.Error("the simulator still says integrated after the link removed the Toss login")
	}
	if n := e.stack.Sim.Calls(tosssim.RemoveByAccessToken); n != 1 {
		t.Errorf("remove-by-access-token called %d times, want 1", n)
	}
	// The simulator's faults strike after Toss did the work (the answer is lost): the link must
	// stand whatever the removal's answer.
	for _, f := range []tosssim.Fault{tosssim.Fault5xx, tosssim.FaultTimeout, tosssim.FaultFailEnvelope} {
		e.stack.Sim.SetFault(tosssim.RemoveByAccessToken, f)
		uk := int64(630 + f)
		hash := "removed-" + f.String()
		c, b := e.doLink(e.link, relaxed, hash, e.mint(uk))
		want(t, "link while removal fails ("+f.String()+")", c, b, 200, `{"success":true}`)
		if m, err := e.store.Get(context.Background(), hash); err != nil || m == nil || m.UserKey != uk {
			t.Fatalf("%v: the mapping is %+v %v", f, m, err)
		}
	}
	e.stack.Sim.SetFault(tosssim.RemoveByAccessToken, tosssim.FaultNone)
	if !strings.Contains(e.logs.String(), "remove-by-access-token failed") {
		t.Error("a failed removal was not logged")
	}
	// Off (the default), nothing is removed.
	off := e.newLink(func(c *config.Config) { c.RemoveTossLogin = false })
	e.stack.Sim.ResetCounters()
	c, b = e.doLink(off, relaxed, "kept-login", e.mint(640))
	want(t, "link with the setting off", c, b, 200, `{"success":true}`)
	if !e.stack.Sim.Integrated(640) || e.stack.Sim.Calls(tosssim.RemoveByAccessToken) != 0 {
		t.Error("the Toss login was removed with the setting off")
	}
}

// stallFirstRead lets the first mapping read through and then holds its answer until released:
// the way a twin request, its read done, sits while the other request spends the code and
// writes.
type stallFirstRead struct {
	store.DynamoDB
	once    sync.Once
	read    chan struct{} // closed when the first read has its answer
	release chan struct{}
}

func (s *stallFirstRead) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	out, err := s.DynamoDB.GetItem(ctx, in, opts...)
	first := false
	s.once.Do(func() { first = true })
	if first {
		close(s.read)
		<-s.release
	}
	return out, err
}

func TestADoubleTappedLinkWhoseTwinWonAnswersSuccess(t *testing.T) {
	t.Parallel()
	e := newFx(t, nil)
	db := &stallFirstRead{DynamoDB: e.stack.DB, read: make(chan struct{}), release: make(chan struct{})}
	tap2 := devenv.Link(e.cfg, e.log, db, e.stack.SM)
	code := e.mint(651)

	second := make(chan [2]any)
	go func() {
		c, b := invoke(t, tap2, linkRequest("double-tap", code))
		second <- [2]any{c, b}
	}()
	<-db.read // the second tap saw the hash unmapped, and waits
	c, b := e.doLink(e.link, relaxed, "double-tap", code)
	want(t, "the first tap", c, b, 200, `{"success":true}`)
	close(db.release) // the second tap now spends the spent code: invalid_grant
	r := <-second
	want(t, "the second tap, whose twin won", r[0].(int), r[1].(string), 200, `{"success":true}`)
	if n := e.stack.Sim.Calls(tosssim.GenerateToken); n != 2 {
		t.Errorf("generate-token called %d times, want 2 (one per tap)", n)
	}
	// A spent code on an unmapped hash still answers INVALID_AUTHORIZATION_CODE.
	c, b = e.doLink(e.link, relaxed, "no-twin", code)
	want(t, "a reused code without a twin", c, b, 400, `"INVALID_AUTHORIZATION_CODE"`)
}
