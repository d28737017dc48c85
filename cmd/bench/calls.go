package main

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/store"
)

// callCheck is one "calls per request" figure, counted at the transport: the devenv proxy in front
// of moto_server for AWS, the Toss simulator for Toss.
type callCheck struct {
	what   string
	got    string
	want   string
	pass   bool
	budget bool // a budget of the issue (otherwise reported for information)
}

// counts is what one step cost at the transport.
type counts struct {
	ddb, sm, other, toss, handshakes int
	ops                              map[string]int
}

func (c counts) String() string {
	keys := make([]string, 0, len(c.ops))
	for k := range c.ops {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", strings.TrimPrefix(strings.TrimPrefix(k, "DynamoDB_20120810."), "secretsmanager."), c.ops[k]))
	}
	if c.toss > 0 {
		parts = append(parts, fmt.Sprintf("Toss %d", c.toss))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

type counter struct{ st *devenv.Stack }

func (c counter) reset() {
	c.st.Moto.Proxy.ResetCalls()
	c.st.Moto.SecretsProxy.ResetCalls()
	c.st.Sim.ResetCounters()
}

func (c counter) read() counts {
	n := counts{ops: map[string]int{}}
	merge := func(m map[string]int) {
		for k, v := range m {
			n.ops[k] += v
		}
	}
	merge(c.st.Moto.Proxy.Calls())
	if c.st.Moto.SecretsProxy != c.st.Moto.Proxy {
		merge(c.st.Moto.SecretsProxy.Calls())
	}
	for k, v := range n.ops {
		switch {
		case strings.HasPrefix(k, "DynamoDB_20120810."):
			n.ddb += v
		case strings.HasPrefix(k, "secretsmanager."):
			n.sm += v
		default:
			n.other += v
		}
	}
	for _, e := range []tosssim.Endpoint{tosssim.GenerateToken, tosssim.LoginMe, tosssim.RemoveByUserKey, tosssim.VerifyAnonKey} {
		n.toss += c.st.Sim.Calls(e)
	}
	n.handshakes = c.st.Sim.Handshakes()
	return n
}

// session runs one binary through the harness against the stack, failing on any error answer.
type session struct {
	s    *runtimeapi.Session
	logs *bytes.Buffer
	name string
}

func startSession(ctx context.Context, st *devenv.Stack, fn *function) (*session, error) {
	logs := &bytes.Buffer{}
	s, err := runtimeapi.Start(ctx, runtimeapi.Options{Binary: fn.hostBin, Env: st.Environ(), FunctionName: fn.name, Logs: logs})
	if err != nil {
		return nil, err
	}
	return &session{s: s, logs: logs, name: fn.name}, nil
}

func (s *session) invoke(ctx context.Context, ev []byte, want string) error {
	r, err := s.s.Invoke(ctx, ev)
	if err == nil && r.Err != nil {
		err = r.Err
	}
	if err == nil {
		err = answer(r.Payload, want)
	}
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", s.name, err, s.logs.Bytes())
	}
	return nil
}

// measureCalls counts, through the real binaries, what each request costs at the transport.
// warmLinks is the number of warm links after the cold one in the TLS reuse check (goal: one
// handshake in all).
func measureCalls(ctx context.Context, st *devenv.Stack, fx *fixtures, fns map[string]*function, warmLinks int) ([]callCheck, error) {
	var checks []callCheck
	add := func(budget bool, what, want string, pass bool, got counts) {
		checks = append(checks, callCheck{what: what, want: want, got: got.String(), pass: pass, budget: budget})
	}
	cnt := counter{st}
	tbl := store.New(st.DB, st.Table)
	const okLink, okUnlink = `{"success":true}`, `{"success":true}`

	// Init: start each binary, wait for its first /invocation/next, count.
	for _, name := range []string{"status", "link", "unlink"} {
		cnt.reset()
		s, err := startSession(ctx, st, fns[name])
		if err != nil {
			return nil, err
		}
		err = s.s.Ready(ctx)
		got := cnt.read()
		s.s.Close()
		if err != nil {
			return nil, fmt.Errorf("%s init: %w\n%s", name, err, s.logs.Bytes())
		}
		total := got.ddb + got.sm + got.other + got.toss
		add(name == "status", name+": network calls during init", "0", total == 0, got)
	}

	// status: one GetItem.
	{
		s, err := startSession(ctx, st, fns["status"])
		if err != nil {
			return nil, err
		}
		err = s.s.Ready(ctx)
		cnt.reset()
		if err == nil {
			err = s.invoke(ctx, marshal(fx.statusEvent("bench-calls-status")), `{"isMapped":false}`)
		}
		got := cnt.read()
		s.s.Close()
		if err != nil {
			return nil, err
		}
		add(true, "status: calls per request", "1 DynamoDB (GetItem), 0 other", got.ddb == 1 && got.ops["DynamoDB_20120810.GetItem"] == 1 && got.sm+got.other+got.toss == 0, got)
	}

	// link: a mapped hash, then new links in the same container; Secrets Manager and TLS reuse.
	{
		if err := tbl.Link(ctx, "bench-calls-mapped", 930_000_000, time.Now(), nil); err != nil {
			return nil, err
		}
		s, err := startSession(ctx, st, fns["link"])
		if err != nil {
			return nil, err
		}
		defer s.s.Close()
		if err := s.s.Ready(ctx); err != nil {
			return nil, fmt.Errorf("link init: %w\n%s", err, s.logs.Bytes())
		}
		cnt.reset()
		if err := s.invoke(ctx, marshal(fx.linkEvent("bench-calls-mapped", "not-spent")), okLink); err != nil {
			return nil, err
		}
		got := cnt.read()
		add(true, "link, mapped hash: calls per request", "1 DynamoDB (GetItem), 0 Toss", got.ddb == 1 && got.ops["DynamoDB_20120810.GetItem"] == 1 && got.toss == 0 && got.other == 0, got)

		var smTotal, smAt20 int
		first := counts{}
		perReqOK, bad := true, ""
		for i := 0; i <= warmLinks; i++ {
			uk := int64(931_000_000 + i)
			code := st.Sim.Authorize(tosssim.FakeUser(uk), "SANDBOX")
			ev := marshal(fx.linkEvent(fmt.Sprintf("bench-calls-new-%d", i), code))
			if i == 0 {
				cnt.reset() // the handshake count starts with the container's first Toss call
			}
			before := cnt.read()
			if err := s.invoke(ctx, ev, okLink); err != nil {
				return nil, err
			}
			after := cnt.read()
			d := diff(after, before)
			smTotal += d.sm
			if i < 20 {
				smAt20 += d.sm
			}
			if i == 0 {
				first = d
			}
			if !(d.ddb == 2 && d.ops["DynamoDB_20120810.GetItem"] == 1 && d.ops["DynamoDB_20120810.TransactWriteItems"] == 1 &&
				d.toss == 2 && st.Sim.Calls(tosssim.GenerateToken) == i+1 && st.Sim.Calls(tosssim.LoginMe) == i+1 && d.other == 0) && perReqOK {
				perReqOK, bad = false, fmt.Sprintf("link #%d: %s", i+1, d)
			}
		}
		firstDesc := first
		firstDesc.ops = withoutPrefix(first.ops, "secretsmanager.")
		add(true, fmt.Sprintf("link, new link: calls per request (each of %d)", warmLinks+1),
			"2 DynamoDB (GetItem + TransactWriteItems), 2 Toss",
			perReqOK, firstDesc)
		if !perReqOK {
			checks[len(checks)-1].got += " — " + bad
		}
		end := cnt.read()
		checks = append(checks,
			callCheck{what: "link: Secrets Manager calls over 20 invocations (one container)", want: "≤ 1",
				got: fmt.Sprint(smAt20), pass: smAt20 <= 1, budget: true},
			callCheck{what: fmt.Sprintf("link: Secrets Manager calls over %d invocations (one container)", warmLinks+2), want: "≤ 1 (TTL 5m)",
				got: fmt.Sprint(smTotal), pass: smTotal <= 1, budget: true},
			callCheck{what: fmt.Sprintf("link: TLS handshakes to Toss over 1 cold + %d warm links (one container)", warmLinks), want: "1",
				got: fmt.Sprint(end.handshakes), pass: end.handshakes == 1, budget: true})
	}

	// unlink: a mapped user (GetItem + TransactWriteItems), an unknown one (GetItem), 20 in all.
	{
		s, err := startSession(ctx, st, fns["unlink"])
		if err != nil {
			return nil, err
		}
		defer s.s.Close()
		if err := s.s.Ready(ctx); err != nil {
			return nil, fmt.Errorf("unlink init: %w\n%s", err, s.logs.Bytes())
		}
		var smTotal int
		mappedOK, unknownOK := true, true
		var mapped, unknown counts
		cnt.reset()
		for i := range 20 {
			uk := int64(940_000_000 + i)
			known := i%2 == 0
			if known {
				if err := tbl.Link(ctx, fmt.Sprintf("bench-calls-unlink-%d", i), uk, time.Now(), nil); err != nil {
					return nil, err
				}
			}
			before := cnt.read()
			if err := s.invoke(ctx, marshal(fx.unlinkEvent(uk)), okUnlink); err != nil {
				return nil, err
			}
			d := diff(cnt.read(), before)
			smTotal += d.sm
			d.ops = withoutPrefix(d.ops, "secretsmanager.")
			if known {
				if i == 0 || i == 2 {
					mapped = d
				}
				mappedOK = mappedOK && d.ddb == 2 && d.ops["DynamoDB_20120810.GetItem"] == 1 &&
					d.ops["DynamoDB_20120810.TransactWriteItems"] == 1 && d.toss+d.other == 0
			} else {
				unknown = d
				// The unlink of a never-linked user leaves its tombstone (the studio's event).
				unknownOK = unknownOK && d.ddb == 2 && d.ops["DynamoDB_20120810.GetItem"] == 1 &&
					d.ops["DynamoDB_20120810.PutItem"] == 1 && d.toss+d.other == 0
			}
		}
		add(true, "unlink, mapped user: calls per request (each of 10)", "2 DynamoDB (GetItem + TransactWriteItems)", mappedOK, mapped)
		add(true, "unlink, unknown userKey: calls per request (each of 10)", "2 DynamoDB (GetItem + PutItem of the tombstone)", unknownOK, unknown)
		checks = append(checks, callCheck{what: "unlink: Secrets Manager calls over 20 invocations (one container)", want: "≤ 1",
			got: fmt.Sprint(smTotal), pass: smTotal <= 1, budget: true})
	}
	return checks, nil
}

func diff(a, b counts) counts {
	d := counts{ddb: a.ddb - b.ddb, sm: a.sm - b.sm, other: a.other - b.other, toss: a.toss - b.toss,
		handshakes: a.handshakes - b.handshakes, ops: map[string]int{}}
	for k, v := range a.ops {
		if n := v - b.ops[k]; n != 0 {
			d.ops[k] = n
		}
	}
	return d
}

func withoutPrefix(m map[string]int, prefix string) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if !strings.HasPrefix(k, prefix) {
			out[k] = v
		}
	}
	return out
}
