package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/store"
)

// coldCase is one function with the two events of a cold-start run: the first is the cold
// invocation, the second the warm one right after, in the same session. Both do the same work, so
// cold − warm is what the first request pays for the container's start (process, Go runtime,
// package init, settings, clients, first connections, lazily fetched secrets).
type coldCase struct {
	key, label string
	fn         *function
	budgeted   bool // its init cost is held to the budget
	// secretRead: the cold request must read the secret (once per container), which the warm
	// one does not; that round trip is measured in the same round and subtracted before the
	// budget is applied, as the "unavoidable round trips cancel out" intends.
	secretRead bool
	// events returns the two events (and their expected bodies) of run i, setting up any data.
	events func(ctx context.Context, i int) (ev [2][]byte, want [2]string, err error)
}

type coldResult struct {
	c          coldCase
	toNext     sample // process start -> first /invocation/next (init phase), ms
	cold, warm sample // process start -> first response; warm invocation's duration, ms
	initCost   sample // cold - warm of the same run, ms
	secret     sample // a cold Secrets Manager read (new client, new connection) in the same round, ms
	adjusted   sample // initCost - secret of the same round, ms (secretRead cases)
}

// coldCases builds the cases on a running stack. mappedHash must already be linked.
func coldCases(st *devenv.Stack, fx *fixtures, fns map[string]*function) []coldCase {
	tbl := store.New(st.DB, st.Table)
	same := func(ev []byte, want string) func(context.Context, int) ([2][]byte, [2]string, error) {
		return func(context.Context, int) ([2][]byte, [2]string, error) {
			return [2][]byte{ev, ev}, [2]string{want, want}, nil
		}
	}
	return []coldCase{
		{key: "empty", label: "empty function (baseline)", fn: fns["empty"], budgeted: false,
			events: same(marshal(fx.statusEvent("bench-cold")), "{}")},
		{key: "status", label: "status", fn: fns["status"], budgeted: true,
			events: same(marshal(fx.statusEvent("bench-cold")), `{"isMapped":false}`)},
		{key: "link", label: "link, mapped hash", fn: fns["link"], budgeted: true,
			events: same(marshal(fx.linkEvent(mappedHash, "not-spent")), `{"success":true}`)},
		{key: "link-new", label: "link, new link (context)", fn: fns["link"],
			events: func(_ context.Context, i int) (ev [2][]byte, want [2]string, err error) {
				for j := range 2 {
					uk := int64(910_000_000 + 2*i + j)
					code := st.Sim.Authorize(tosssim.FakeUser(uk), "SANDBOX")
					ev[j] = marshal(fx.linkEvent(fmt.Sprintf("bench-cold-new-%d-%d", i, j), code))
					want[j] = `{"success":true}`
				}
				return ev, want, nil
			}},
		{key: "unlink", label: "unlink, mapped user", fn: fns["unlink"], budgeted: true, secretRead: true,
			events: func(ctx context.Context, i int) (ev [2][]byte, want [2]string, err error) {
				for j := range 2 {
					uk := int64(920_000_000 + 2*i + j)
					if err := tbl.Link(ctx, fmt.Sprintf("bench-cold-unlink-%d-%d", i, j), uk, time.Now(), nil); err != nil {
						return ev, want, err
					}
					ev[j] = marshal(fx.unlinkEvent(uk))
					want[j] = `{"success":true}`
				}
				return ev, want, nil
			}},
	}
}

// mappedHash is linked once per stack, for "link on a mapped hash".
const mappedHash = "bench-mapped-hash"

// coldOnce runs one case once: a fresh process, the cold invocation, the warm one.
func coldOnce(ctx context.Context, env []string, c coldCase, i int) (toNext, cold, warm time.Duration, err error) {
	ev, want, err := c.events(ctx, i)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%s: prepare: %w", c.key, err)
	}
	var logs bytes.Buffer
	s, err := runtimeapi.Start(ctx, runtimeapi.Options{Binary: c.fn.hostBin, Env: env, FunctionName: c.fn.name, Logs: &logs})
	if err != nil {
		return 0, 0, 0, err
	}
	defer s.Close()
	var res [2]runtimeapi.Result
	for j := range 2 {
		r, err := s.Invoke(ctx, ev[j])
		if err == nil && r.Err != nil {
			err = r.Err
		}
		if err == nil {
			err = answer(r.Payload, want[j])
		}
		if err != nil {
			return 0, 0, 0, fmt.Errorf("%s: invocation %d: %w\n%s", c.key, j+1, err, logs.Bytes())
		}
		res[j] = r
	}
	return s.StartToFirstNext(), res[0].SinceStart, res[1].Elapsed, nil
}

// measureCold runs every case runs times, in a new random order each round, after one untimed
// round (page cache, moto's first requests).
func measureCold(ctx context.Context, env []string, cases []coldCase, runs int, progress func(string)) (map[string]*coldResult, error) {
	out := map[string]*coldResult{}
	for _, c := range cases {
		out[c.key] = &coldResult{c: c}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := -1; round < runs; round++ {
		secret, err := coldSecretRead(ctx, env)
		if err != nil {
			return nil, err
		}
		for _, k := range rng.Perm(len(cases)) {
			c := cases[k]
			toNext, cold, warm, err := coldOnce(ctx, env, c, round+1)
			if err != nil {
				return nil, err
			}
			if round < 0 {
				continue
			}
			r := out[c.key]
			r.toNext = append(r.toNext, ms(toNext))
			r.cold = append(r.cold, ms(cold))
			r.warm = append(r.warm, ms(warm))
			r.initCost = append(r.initCost, ms(cold-warm))
			if c.secretRead {
				r.secret = append(r.secret, ms(secret))
				r.adjusted = append(r.adjusted, ms(cold-warm-secret))
			}
		}
		if round >= 0 && (round+1)%5 == 0 {
			progress(fmt.Sprintf("cold starts: %d/%d rounds", round+1, runs))
		}
	}
	return out, nil
}

// coldSecretRead times what a container's first secret read costs: a new Secrets Manager client
// (new connection) reading the function's secret from the same endpoint.
func coldSecretRead(ctx context.Context, env []string) (time.Duration, error) {
	get := func(k string) string {
		for _, kv := range env {
			if key, v, ok := strings.Cut(kv, "="); ok && key == k {
				return v
			}
		}
		return ""
	}
	ep, id := get("AWS_ENDPOINT_URL_SECRETS_MANAGER"), get("SECRET_ID")
	cfg := aws.Config{Region: devenv.Region, Credentials: credentials.NewStaticCredentialsProvider("test", "test", "")}
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = &ep })
	start := time.Now()
	_, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &id})
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("cold secret read: %w", err)
	}
	return d, nil
}

// anyAnswer accepts any 200 from the case (the instant endpoint's answers differ from moto's).
func anyAnswer(c coldCase) coldCase {
	events := c.events
	c.events = func(ctx context.Context, i int) ([2][]byte, [2]string, error) {
		ev, _, err := events(ctx, i)
		return ev, [2]string{}, err
	}
	return c
}

// awsEndpoint is env with both AWS endpoints replaced by url.
func awsEndpoint(env []string, url string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "AWS_ENDPOINT_URL_DYNAMODB=") && !strings.HasPrefix(kv, "AWS_ENDPOINT_URL_SECRETS_MANAGER=") {
			out = append(out, kv)
		}
	}
	return append(out, "AWS_ENDPOINT_URL_DYNAMODB="+url, "AWS_ENDPOINT_URL_SECRETS_MANAGER="+url)
}
