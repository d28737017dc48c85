package toss

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
)

const simAAD = "SIM_AAD"

// simEnv is the Toss simulator behind mTLS, and pairs its CA issues.
type simEnv struct {
	sim *tosssim.Server
	ca  *devcert.CA
	key []byte
}

func newSim(t *testing.T) *simEnv {
	t.Helper()
	ca, err := devcert.NewCA("toss test CA")
	if err != nil {
		t.Fatal(err)
	}
	srvCert, srvKey, err := ca.Issue("localhost", []string{"127.0.0.1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i)
	}
	sim, err := tosssim.New(tosssim.Config{Key: key, AAD: simAAD, ClientCAs: ca.Pool(), ServerCertPEM: srvCert, ServerKeyPEM: srvKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0", ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return &simEnv{sim: sim, ca: ca, key: key}
}

// testPair is a pair as the secret hands it over, with its PEM for the simulator's counters.
type testPair struct {
	Pair
	certPEM []byte
}

func (e *simEnv) pair(t *testing.T, ca *devcert.CA, name string, notBefore, notAfter time.Time) testPair {
	t.Helper()
	if ca == nil {
		ca = e.ca
	}
	c, k, err := ca.IssueValid(name, nil, true, notBefore, notAfter)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(c, k)
	if err != nil {
		t.Fatal(err)
	}
	return testPair{Pair{Name: name, Certificate: cert, Fingerprint: sha256.Sum256(cert.Leaf.Raw)}, c}
}

// identity is a settable identity source, as a rotated secret would be.
type identity struct {
	mu  sync.Mutex
	id  Identity
	err error
}

func (s *identity) set(aad string, key []byte, pairs ...testPair) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.id = Identity{Key: key, AAD: aad}
	for _, p := range pairs {
		s.id.Pairs = append(s.id.Pairs, p.Pair)
	}
}

func (s *identity) get(context.Context) (Identity, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.id, s.err
}

// calls records what the Partner's observer heard.
type calls struct {
	mu   sync.Mutex
	list []string
}

func (c *calls) observe(_ context.Context, call Call) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.list = append(c.list, call.Name+":"+call.Class)
}

func (c *calls) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.list
	c.list = nil
	return out
}

func (e *simEnv) partner(id *identity, now *time.Time) (*Partner, *calls) {
	p := NewPartner(e.sim.APIURL(), e.ca.Pool(), id.get)
	if now != nil {
		p.Now = func() time.Time { return *now }
	}
	obs := &calls{}
	p.Observe = obs.observe
	p.Log = slog.New(slog.DiscardHandler)
	return p, obs
}

var someone = tosssim.User{UserKey: 443731104, Name: "홍길동", Phone: "01012345678", Birthday: "19930324",
	CI: "CI", Gender: "MALE", Nationality: "LOCAL"}

func TestThePartnerUsesTheNewestPairValidAtTheMomentOfUse(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now().Truncate(time.Second)
	day := 24 * time.Hour
	old := e.pair(t, nil, "old", now.Add(-300*day), now.Add(30*day))
	fresh := e.pair(t, nil, "new", now.Add(-1*day), now.Add(365*day))
	cases := []struct {
		name  string
		at    time.Time
		pairs []testPair
		want  *testPair // nil: none valid
	}{
		{"one pair", now, []testPair{old}, &old},
		{"the newer of two", now, []testPair{old, fresh}, &fresh},
		{"the newer of two, whatever their order", now, []testPair{fresh, old}, &fresh},
		{"not the newer before its NotBefore", now.Add(-2 * day), []testPair{old, fresh}, &old},
		{"not the older after its NotAfter", now.Add(31 * day), []testPair{old}, nil},
		{"the newer once the older expired", now.Add(31 * day), []testPair{old, fresh}, &fresh},
		{"none before any NotBefore", now.Add(-301 * day), []testPair{old, fresh}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := &identity{}
			id.set(simAAD, e.key, c.pairs...)
			at := c.at
			p, _ := e.partner(id, &at)
			e.sim.ResetCounters()
			uk, _, _, err := p.Login(context.Background(), e.sim.Authorize(someone, "DEFAULT"), "DEFAULT", nil)
			if c.want == nil {
				var none *NoValidCertificateError
				if !errors.As(err, &none) || !errors.Is(err, apperr.ErrNotConfigured) || e.sim.Handshakes() != 0 {
					t.Fatalf("err %v after %d handshakes; want a configuration fault and no call", err, e.sim.Handshakes())
				}
				return
			}
			if err != nil || uk != someone.UserKey {
				t.Fatalf("login: %d, %v", uk, err)
			}
			for _, pr := range c.pairs {
				if got, want := e.sim.Presented(pr.certPEM), btoi(pr.Name == c.want.Name); got != want {
					t.Errorf("pair %s presented %d times, want %d", pr.Name, got, want)
				}
			}
		})
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestARotationTakesEffectOnTheNextCallAndAnUnchangedSecretKeepsItsConnection(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now()
	old := e.pair(t, nil, "old", now.Add(-48*time.Hour), now.Add(time.Hour*24*30))
	fresh := e.pair(t, nil, "new", now.Add(-time.Hour), now.Add(time.Hour*24*365))
	id := &identity{}
	id.set(simAAD, e.key, old)
	p, _ := e.partner(id, nil)
	login := func() {
		t.Helper()
		if _, _, _, err := p.Login(context.Background(), e.sim.Authorize(someone, "DEFAULT"), "DEFAULT", nil); err != nil {
			t.Fatal(err)
		}
	}
	for range 5 {
		login()
	}
	id.set(simAAD, e.key, old, fresh) // the new pair added
	for range 5 {
		login()
	}
	id.set(simAAD, e.key, fresh) // the old one removed
	for range 5 {
		login()
	}
	if o, n := e.sim.Presented(old.certPEM), e.sim.Presented(fresh.certPEM); o != 1 || n != 1 {
		t.Errorf("handshakes: old %d, new %d; want one each (each pair's connection reused)", o, n)
	}
}

func TestACertificateTossRefusesIsAConfigurationFaultAndSpendsNoCode(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now()
	other, err := devcert.NewCA("not registered at Toss")
	if err != nil {
		t.Fatal(err)
	}
	revoked := e.pair(t, nil, "revoked", now.Add(-time.Hour), now.Add(24*time.Hour))
	if err := e.sim.Revoke(revoked.certPEM); err != nil {
		t.Fatal(err)
	}
	expired := e.pair(t, nil, "expired", now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	foreign := e.pair(t, other, "foreign", now.Add(-time.Hour), now.Add(24*time.Hour))
	good := e.pair(t, nil, "good", now.Add(-time.Hour), now.Add(24*time.Hour))
	cases := []struct {
		name string
		pair testPair
		at   time.Time // the client's clock: the expired pair looks valid to a skewed one
	}{
		{"removed from the console (bad_certificate)", revoked, now},
		{"expired by Toss's clock (certificate_expired)", expired, now.Add(-36 * time.Hour)},
		{"not issued by Toss's CA (certificate_required or unknown_ca)", foreign, now},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := &identity{}
			id.set(simAAD, e.key, c.pair)
			at := c.at
			p, obs := e.partner(id, &at)
			code := e.sim.Authorize(someone, "DEFAULT")
			_, _, _, err := p.Login(context.Background(), code, "DEFAULT", nil)
			var rejected *CertificateRejectedError
			if !errors.As(err, &rejected) || !errors.Is(err, apperr.ErrNotConfigured) || errors.Is(err, apperr.ErrTossUnavailable) {
				t.Fatalf("err %v; want a CertificateRejectedError, a configuration fault and not Toss unavailable", err)
			}
			if rejected.Pair != c.pair.Name || Class(err) != ClassCertificateRejected {
				t.Errorf("rejected %+v, class %s", rejected, Class(err))
			}
			if got := obs.take(); !slices.Equal(got, []string{"generate-token:certificate_rejected"}) {
				t.Errorf("observed %v", got)
			}
			// The request never reached Toss: the code still links with a good pair.
			id.set(simAAD, e.key, good)
			at = now
			if uk, _, _, err := p.Login(context.Background(), code, "DEFAULT", nil); err != nil || uk != someone.UserKey {
				t.Errorf("the same code with a good pair: %d, %v", uk, err)
			}
		})
	}
}

func TestAPairTossRefusesYieldsToTheNextValidOneAndStaysBehindIt(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now()
	good := e.pair(t, nil, "registered", now.Add(-48*time.Hour), now.Add(30*24*time.Hour))
	// Newer, so preferred, but not (yet) registered in the console.
	unregistered := e.pair(t, nil, "unregistered", now.Add(-time.Hour), now.Add(365*24*time.Hour))
	if err := e.sim.Revoke(unregistered.certPEM); err != nil {
		t.Fatal(err)
	}
	id := &identity{}
	id.set(simAAD, e.key, good, unregistered)
	p, obs := e.partner(id, nil)
	for i := range 3 {
		if _, _, _, err := p.Login(context.Background(), e.sim.Authorize(someone, "DEFAULT"), "DEFAULT", nil); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
	want := []string{"generate-token:certificate_rejected", "generate-token:ok", "login-me:ok",
		"generate-token:ok", "login-me:ok", "generate-token:ok", "login-me:ok"}
	if got := obs.take(); !slices.Equal(got, want) {
		t.Errorf("calls %v, want %v: one refused handshake, then the registered pair", got, want)
	}
}

func TestLinkDecryptsOnlyTheFieldsAskedFor(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now()
	pr := e.pair(t, nil, "p", now.Add(-time.Hour), now.Add(24*time.Hour))
	id := &identity{}
	id.set("A-WRONG-AAD", e.key, pr) // a wrong AAD: every field fails its tag check
	p, _ := e.partner(id, nil)
	uk, profile, _, err := p.Login(context.Background(), e.sim.Authorize(someone, "DEFAULT"), "DEFAULT", nil)
	if err != nil || uk != someone.UserKey || profile != nil {
		t.Fatalf("no field asked for, wrong AAD: %d %v %v; want success and nothing decrypted", uk, profile, err)
	}
	_, _, _, err = p.Login(context.Background(), e.sim.Authorize(someone, "DEFAULT"), "DEFAULT", []string{"name"})
	if !errors.Is(err, apperr.ErrNotConfigured) || !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a field asked for, wrong AAD: %v; want a configuration fault", err)
	}
	id.set(simAAD, e.key, pr)
	_, profile, _, err = p.Login(context.Background(), e.sim.Authorize(someone, "DEFAULT"), "DEFAULT", []string{"name", "email"})
	if err != nil || len(profile) != 1 || profile["name"] != someone.Name {
		t.Fatalf("name and email (absent): %v %v", profile, err)
	}
}

func TestTheHashVerdictIsOnlyTossesDocumentedOne(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now()
	id := &identity{}
	id.set(simAAD, e.key, e.pair(t, nil, "p", now.Add(-time.Hour), now.Add(24*time.Hour)))
	p, obs := e.partner(id, nil)
	e.sim.RegisterHash("real")
	ctx := context.Background()
	if ok, err := p.VerifyHash(ctx, "real"); !ok || err != nil {
		t.Fatalf("a registered hash: %v %v", ok, err)
	}
	for i := range 4 { // the simulator alternates the verdict's status between 200 and 401
		if ok, err := p.VerifyHash(ctx, "unknown"); ok || err != nil {
			t.Fatalf("verdict %d: %v %v; want false and no error", i, ok, err)
		}
	}
	for _, f := range []tosssim.Fault{tosssim.FaultUnauthorized, tosssim.Fault5xx, tosssim.FaultFailEnvelope, tosssim.FaultMalformed} {
		e.sim.SetFault(tosssim.VerifyAnonKey, f)
		ok, err := p.VerifyHash(ctx, "unknown")
		if ok || !errors.Is(err, apperr.ErrTossUnavailable) || IsHashVerdict(err) {
			t.Errorf("%v: %v %v; want Toss unavailable, not a verdict", f, ok, err)
		}
	}
	got := obs.take()
	want := []string{"verify-hash:ok", "verify-hash:ok", "verify-hash:ok", "verify-hash:ok", "verify-hash:ok",
		"verify-hash:toss_error", "verify-hash:toss_error", "verify-hash:toss_error", "verify-hash:malformed"}
	if !slices.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestRemoveAccessEndsTheTossLogin(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now()
	id := &identity{}
	id.set(simAAD, e.key, e.pair(t, nil, "p", now.Add(-time.Hour), now.Add(24*time.Hour)))
	p, obs := e.partner(id, nil)
	ctx := context.Background()
	_, _, token, err := p.Login(ctx, e.sim.Authorize(someone, "DEFAULT"), "DEFAULT", nil)
	if err != nil || token == "" || !e.sim.Integrated(someone.UserKey) {
		t.Fatalf("login: %q %v, integrated %v", token, err, e.sim.Integrated(someone.UserKey))
	}
	if err := p.RemoveAccess(ctx, token); err != nil {
		t.Fatal(err)
	}
	if e.sim.Integrated(someone.UserKey) {
		t.Error("still integrated after RemoveAccess")
	}
	if err := p.RemoveAccess(ctx, token); !errors.Is(err, apperr.ErrInvalidCode) {
		t.Errorf("a spent token: %v, want invalid_grant", err)
	}
	got := obs.take()
	want := []string{"generate-token:ok", "login-me:ok", "remove-access:ok", "remove-access:invalid_grant"}
	if !slices.Equal(got, want) {
		t.Errorf("observed %v, want %v", got, want)
	}
}

func TestEveryCallReportsItsClass(t *testing.T) {
	t.Parallel()
	e := newSim(t)
	now := time.Now()
	id := &identity{}
	id.set(simAAD, e.key, e.pair(t, nil, "p", now.Add(-time.Hour), now.Add(24*time.Hour)))
	p, obs := e.partner(id, nil)
	cases := []struct {
		fault tosssim.Fault
		want  string
	}{
		{tosssim.FaultNone, "generate-token:invalid_grant"}, // a code never issued
		{tosssim.Fault5xx, "generate-token:toss_error"},
		{tosssim.FaultFailEnvelope, "generate-token:toss_error"},
		{tosssim.FaultMalformed, "generate-token:malformed"},
		{tosssim.FaultTimeout, "generate-token:timeout"},
	}
	for _, c := range cases {
		e.sim.SetFault(tosssim.GenerateToken, c.fault)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, _, _, err := p.Login(ctx, fmt.Sprintf("never-issued-%v", c.fault), "DEFAULT", nil)
		cancel()
		if err == nil {
			t.Fatalf("%v: no error", c.fault)
		}
		if got := obs.take(); !slices.Equal(got, []string{c.want}) {
			t.Errorf("%v: observed %v, want %s", c.fault, got, c.want)
		}
	}
	e.sim.SetFault(tosssim.GenerateToken, tosssim.FaultNone)
	bad := NewPartner("https://127.0.0.1:1", e.ca.Pool(), id.get)
	bad.Observe = obs.observe
	bad.Login(context.Background(), "c", "DEFAULT", nil)
	if got := obs.take(); !slices.Equal(got, []string{"generate-token:network"}) {
		t.Errorf("connection refused: observed %v", got)
	}
}
