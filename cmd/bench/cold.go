package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/tossgame/migration-server/cmd/invoke/runtimeapi"
	"github.com/tossgame/migration-server/shared/dev/devenv"
)

// coldCase is one bootstrap and the event of its two invocations, a cold one and a warm one right
// after in the same process, doing the same work: cold − warm is what the first request pays for
// the container's start (process, Go runtime, package init, settings, clients, the first use of
// each, and the secret read where the first request makes one).
type coldCase struct {
	key   string // the table's name: "status", "bare status", "empty"
	bin   *binary
	env   []string // on top of coldEnv
	event []byte
	want  string
}

type coldResult struct {
	first sample // process start -> first response, ms
	warm  sample // the second invocation's /next -> response, ms
}

// initCost is the median first response less the median warm one. Medians of each, not of the
// differences: a warm invocation the shared machine delays by 20 ms would otherwise turn a cold
// start into a negative init cost.
func (c *coldResult) initCost() float64 { return c.first.median() - c.warm.median() }

// pairedRatios are the medians over the rounds of o's init cost and first response over b's in
// the same round: both ran within milliseconds of each other, so the load of a shared machine,
// which drifts over seconds, cancels (four runs of 100 rounds at load 11 on 2 cores: init ratios
// 0.96–1.02 paired, 0.93–1.02 as a ratio of medians).
func pairedRatios(o, b *coldResult) (initCost, first float64) {
	var ic, fr sample
	for i := range min(len(o.first), len(b.first)) {
		ic = append(ic, (o.first[i]-o.warm[i])/(b.first[i]-b.warm[i]))
		fr = append(fr, o.first[i]/b.first[i])
	}
	return ic.median(), fr.median()
}

// coldCases are every function and its bare twin, the empty function and the bare status
// function configured by config.LoadDefaultConfig, all on the functions' fixture events.
func coldCases(fx *fixtures, bins map[string]*binary) []coldCase {
	var cases []coldCase
	for _, fn := range functions() {
		ev := marshal(subjects[fn].event(fx))
		cases = append(cases,
			coldCase{key: fn, bin: bins[fn], event: ev, want: subjects[fn].want},
			coldCase{key: "bare " + fn, bin: bins["bare "+fn], env: []string{"BARE_CALLS=" + fn}, event: ev, want: "{}"})
	}
	status := marshal(subjects["status"].event(fx))
	return append(cases,
		coldCase{key: "empty", bin: bins["empty"], event: status, want: "{}"},
		coldCase{key: "bare status, LoadDefaultConfig", bin: bins["bare status, LoadDefaultConfig"],
			env: []string{"BARE_CALLS=status"}, event: status, want: "{}"})
}

// coldEnv is what Lambda would give the functions, pointed at the instant endpoint: there each
// round trip costs ~0.1–0.3 ms (moto: ~5 ms with a millisecond of jitter, as large as what is
// measured), so what remains of cold − warm is the start of the code.
func coldEnv(endpoint string) []string {
	return []string{
		"AWS_REGION=" + devenv.Region, "AWS_ACCESS_KEY_ID=AKIDBENCH", "AWS_SECRET_ACCESS_KEY=bench-secret-key", "AWS_SESSION_TOKEN=bench-token",
		"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint, "AWS_ENDPOINT_URL_SECRETS_MANAGER=" + endpoint,
		"TABLE_NAME=" + benchTable, "SECRET_ID=" + benchSecretID,
	}
}

// measureCold runs every case runs times, in a new random order each round, after one untimed
// round (page cache, first connections of the endpoint).
func measureCold(ctx context.Context, env []string, cases []coldCase, runs int) (map[string]*coldResult, error) {
	out := map[string]*coldResult{}
	for _, c := range cases {
		out[c.key] = &coldResult{}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for round := -1; round < runs; round++ {
		for _, k := range rng.Perm(len(cases)) {
			c := cases[k]
			first, warm, err := coldOnce(ctx, slices.Concat(env, c.env), c)
			if err != nil {
				return nil, err
			}
			if round >= 0 {
				r := out[c.key]
				r.first = append(r.first, ms(first))
				r.warm = append(r.warm, ms(warm))
			}
		}
		if (round+1)%10 == 0 {
			progress(fmt.Sprintf("cold starts: %d/%d rounds", round+1, runs))
		}
	}
	return out, nil
}

// coldOnce starts a fresh process and times its cold and warm invocations.
func coldOnce(ctx context.Context, env []string, c coldCase) (first, warm time.Duration, err error) {
	var logs bytes.Buffer
	s, err := runtimeapi.Start(ctx, runtimeapi.Options{Binary: c.bin.host, Env: env, Logs: &logs})
	if err != nil {
		return 0, 0, err
	}
	defer s.Close()
	for i := range 2 {
		r, err := s.Invoke(ctx, c.event)
		if err == nil && r.Err != nil {
			err = r.Err
		}
		if err == nil {
			err = answer(r.Payload, c.want)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("%s: invocation %d: %w\n%s", c.key, i+1, err, logs.Bytes())
		}
		if i == 0 {
			first = r.SinceStart
		} else {
			warm = r.Elapsed
		}
	}
	return first, warm, nil
}
