package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/store"
)

// callCheck is one "calls per request" figure, counted at the transport: devenv's proxy in front
// of moto_server for AWS (by X-Amz-Target), the Toss simulator for Toss.
type callCheck struct {
	what, got, want string
	pass            bool
}

// counts are calls by operation: "GetItem", "GetSecretValue", "Toss login-me", ...
type counts map[string]int

func (c counts) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// without is c less the Secrets Manager reads, which the secret's cache makes once per container.
func (c counts) without() counts {
	d := maps.Clone(c)
	delete(d, "GetSecretValue")
	return d
}

var tossEndpoints = map[tosssim.Endpoint]string{tosssim.GenerateToken: "Toss generate-token", tosssim.LoginMe: "Toss login-me",
	tosssim.RemoveByUserKey: "Toss remove-by-user-key", tosssim.VerifyAnonKey: "Toss verify"}

// meter reads the stack's counters.
type meter struct{ st *devenv.Stack }

func (m meter) read() counts {
	n := counts{}
	proxies := []*devenv.Proxy{m.st.Moto.Proxy}
	if m.st.Moto.SecretsProxy != m.st.Moto.Proxy {
		proxies = append(proxies, m.st.Moto.SecretsProxy)
	}
	for _, p := range proxies {
		for k, v := range p.Calls() {
			_, op, _ := strings.Cut(k, ".") // DynamoDB_20120810.GetItem, secretsmanager.GetSecretValue
			n[op] += v
		}
	}
	for e, name := range tossEndpoints {
		if v := m.st.Sim.Calls(e); v > 0 {
			n[name] = v
		}
	}
	return n
}

// since is what was counted after before.
func (m meter) since(before counts) counts {
	d := counts{}
	for k, v := range m.read() {
		if v -= before[k]; v != 0 {
			d[k] = v
		}
	}
	return d
}

// session is one binary behind the harness, against the stack, once its init is over.
type session struct {
	*runtimeapi.Session
	logs *bytes.Buffer
}

func startSession(ctx context.Context, st *devenv.Stack, b *binary) (*session, error) {
	s := &session{logs: &bytes.Buffer{}}
	var err error
	if s.Session, err = runtimeapi.Start(ctx, runtimeapi.Options{Binary: b.host, Env: st.Environ(), Logs: s.logs}); err != nil {
		return nil, err
	}
	if err := s.Ready(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s init: %w\n%s", b.pkg, err, s.logs.Bytes())
	}
	return s, nil
}

func (s *session) invoke(ctx context.Context, ev []byte, want string) error {
	r, err := s.Invoke(ctx, ev)
	if err == nil && r.Err != nil {
		err = r.Err
	}
	if err == nil {
		err = answer(r.Payload, want)
	}
	if err != nil {
		return fmt.Errorf("%w\n%s", err, s.logs.Bytes())
	}
	return nil
}

// requests invokes s n times with event(i) and checks that each request, less the secret reads,
// made exactly want. It returns the check and the Secrets Manager reads of all n.
func (m meter) requests(ctx context.Context, s *session, what string, n int, event func(i int) ([]byte, error), want counts, wantDesc string) (callCheck, int, error) {
	c := callCheck{what: what, want: wantDesc, pass: true}
	secretReads := 0
	for i := range n {
		ev, err := event(i)
		if err != nil {
			return c, 0, err
		}
		before := m.read()
		if err := s.invoke(ctx, ev, `{"success":true}`); err != nil {
			return c, 0, fmt.Errorf("%s, request %d: %w", what, i+1, err)
		}
		got := m.since(before)
		secretReads += got["GetSecretValue"]
		if i == 0 {
			c.got = got.without().String()
		}
		if !maps.Equal(got.without(), want) && c.pass {
			c.pass, c.got = false, fmt.Sprintf("request %d: %s", i+1, got)
		}
	}
	return c, secretReads, nil
}

// measureCalls counts, through the real binaries, what each request costs at the transport.
func measureCalls(ctx context.Context, st *devenv.Stack, fx *fixtures, bins map[string]*binary) ([]callCheck, error) {
	m := meter{st}
	tbl := store.New(st.DB, st.Table)
	var checks []callCheck

	// Init: start each binary and wait for its first /invocation/next. Status is held to none;
	// link and unlink read their secret on first use, which is a choice, not a budget.
	var inits []string
	statusInit := counts{}
	for _, fn := range functions() {
		before := m.read()
		s, err := startSession(ctx, st, bins[fn])
		if err != nil {
			return nil, err
		}
		got := m.since(before)
		s.Close()
		inits = append(inits, fn+": "+got.String())
		if fn == "status" {
			statusInit = got
		}
	}
	checks = append(checks, callCheck{what: "network calls during init", got: strings.Join(inits, " · "), want: "status: none", pass: len(statusInit) == 0})

	// status: one GetItem.
	s, err := startSession(ctx, st, bins["status"])
	if err != nil {
		return nil, err
	}
	before := m.read()
	err = s.invoke(ctx, marshal(fx.statusEvent("bench-calls-status")), `{"isMapped":false}`)
	s.Close()
	if err != nil {
		return nil, err
	}
	got := m.since(before)
	checks = append(checks, callCheck{what: "status: calls per request", got: got.String(), want: "GetItem 1", pass: maps.Equal(got, counts{"GetItem": 1})})

	// link: a mapped hash, then new links in the same container (Secrets Manager and TLS reuse).
	const warmLinks = 100
	if err := tbl.Link(ctx, "bench-calls-mapped", 930_000_000, time.Now(), nil); err != nil {
		return nil, err
	}
	if s, err = startSession(ctx, st, bins["link"]); err != nil {
		return nil, err
	}
	defer s.Close()
	mapped, smMapped, err := m.requests(ctx, s, "link, mapped hash: calls per request", 1,
		func(int) ([]byte, error) { return marshal(fx.linkEvent("bench-calls-mapped", "not-spent")), nil },
		counts{"GetItem": 1}, "GetItem 1 (no Toss call, no code spent)")
	if err != nil {
		return nil, err
	}
	st.Sim.ResetCounters() // the handshake count starts with the container's first Toss call
	fresh, smNew, err := m.requests(ctx, s, fmt.Sprintf("link, new link: calls per request (each of %d)", warmLinks+1), warmLinks+1,
		func(i int) ([]byte, error) {
			code := st.Sim.Authorize(tosssim.FakeUser(int64(931_000_000+i)), "SANDBOX")
			return marshal(fx.linkEvent(fmt.Sprintf("bench-calls-new-%d", i), code)), nil
		},
		counts{"GetItem": 1, "TransactWriteItems": 1, "Toss generate-token": 1, "Toss login-me": 1}, "GetItem 1, TransactWriteItems 1, Toss generate-token 1, Toss login-me 1")
	if err != nil {
		return nil, err
	}
	hs := st.Sim.Handshakes()
	checks = append(checks, mapped, fresh,
		callCheck{what: fmt.Sprintf("link: Secrets Manager calls over %d requests (one container)", warmLinks+2), got: fmt.Sprint(smMapped + smNew), want: "≤ 1 (TTL 5m)", pass: smMapped+smNew <= 1},
		callCheck{what: fmt.Sprintf("link: TLS handshakes to Toss over %d new links (one container)", warmLinks+1), got: fmt.Sprint(hs), want: "1", pass: hs == 1})

	// unlink: mapped users (GetItem + TransactWriteItems) and unknown ones (GetItem), alternating.
	if s, err = startSession(ctx, st, bins["unlink"]); err != nil {
		return nil, err
	}
	defer s.Close()
	var unlinks [2]callCheck
	var smUnlink int
	for k, c := range []struct {
		what string
		want counts
		desc string
	}{
		{"unlink, mapped user: calls per request (each of 10)", counts{"GetItem": 1, "TransactWriteItems": 1}, "GetItem 1, TransactWriteItems 1"},
		// An unknown user's unlink writes a tombstone too: the studio hears of it (contract §10).
		{"unlink, unknown userKey: calls per request (each of 10)", counts{"GetItem": 1, "PutItem": 1}, "GetItem 1, PutItem 1"},
	} {
		var n int
		unlinks[k], n, err = m.requests(ctx, s, c.what, 10, func(i int) ([]byte, error) {
			uk := int64(940_000_000 + 100*k + i)
			if k == 0 {
				if err := tbl.Link(ctx, fmt.Sprintf("bench-calls-unlink-%d", i), uk, time.Now(), nil); err != nil {
					return nil, err
				}
			}
			return marshal(fx.unlinkEvent(uk)), nil
		}, c.want, c.desc)
		if err != nil {
			return nil, err
		}
		smUnlink += n
	}
	checks = append(checks, unlinks[0], unlinks[1],
		callCheck{what: "unlink: Secrets Manager calls over 20 requests (one container)", got: fmt.Sprint(smUnlink), want: "≤ 1", pass: smUnlink <= 1})
	return checks, nil
}
