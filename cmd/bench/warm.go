package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/cmd/bench/barefn"
	fnconfig "github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/secrets"
)

// The warm, in-process measurements: each handler exactly as its main wires it (devenv.Handlers),
// against an AWS endpoint on loopback that answers at once with minimal valid JSON, logging JSON
// to io.Discard. The baseline is the bare SDK calls the handler cannot avoid (package barefn),
// through the same client to the same endpoint: the ratio is our overhead.

const (
	benchTable    = "bench-table"
	benchSecretID = "bench-secret"
)

// instant is an in-process AWS endpoint that answers GetItem, TransactWriteItems and
// GetSecretValue at once. mapped chooses whether GetItem finds the fixtures' pair.
type instant struct {
	*httptest.Server
	bodies map[string][]byte
}

func newInstant(mapped bool, secret secrets.Document) *instant {
	doc, _ := json.Marshal(secret)
	sm, _ := json.Marshal(map[string]any{"ARN": "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:" + benchSecretID + "-AbCdEf",
		"Name": benchSecretID, "SecretString": string(doc), "VersionId": "v1", "CreatedDate": 1.7e9})
	get := `{"Item":{"pk":{"S":"h#` + barefn.Hash + `"},"hash":{"S":"` + barefn.Hash + `"},"userKey":{"N":"` + strconv.Itoa(barefn.UserKey) + `"}}}`
	if !mapped {
		get = `{}`
	}
	in := &instant{bodies: map[string][]byte{
		"DynamoDB_20120810.GetItem":            []byte(get),
		"DynamoDB_20120810.TransactWriteItems": []byte(`{}`),
		"secretsmanager.GetSecretValue":        sm,
	}}
	in.Server = httptest.NewServer(http.HandlerFunc(in.serve))
	return in
}

func (in *instant) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	op := r.Header.Get("X-Amz-Target")
	body, ok := in.bodies[op]
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amzn-Requestid", "BENCHREQUESTID0000000000000000000000000000000000000")
	if !ok {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"__type":"com.amazon.coral.service#UnknownOperationException"}`)
		return
	}
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10)) // DynamoDB sends it and the SDK checks it
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// awsClients are built as awsenv.Load, awsenv.DynamoDB and secrets.NewClient build them (static
// credentials, a base endpoint), pointed at endpoint.
func awsClients(endpoint string) (*dynamodb.Client, *secretsmanager.Client) {
	cfg := aws.Config{
		Region:      devenv.Region,
		Credentials: aws.NewCredentialsCache(credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret-key", "")),
	}
	db := dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = &endpoint })
	sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = &endpoint })
	return db, sm
}

// lambdaCtx is what aws-lambda-go hands a handler: a request id and a deadline (far enough).
func lambdaCtx() (context.Context, context.CancelFunc) {
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd"})
	return context.WithDeadline(ctx, time.Now().Add(24*time.Hour))
}

// warmCase is one handler and its baseline.
type warmCase struct {
	key, label string
	call       func(ctx context.Context) error // one request through the handler
	bare       func(ctx context.Context) error // the SDK calls it cannot avoid; nil: none (link-new)
	bareDesc   string
	// prepare readies n calls outside the measurement (link-new mints n authorization codes).
	prepare func(n int)
}

// warmEnv holds what the cases share; close it after the measurements.
type warmEnv struct {
	cases   []warmCase
	mapped  *instant // also the cold starts' endpoint
	closers []func()
}

func (w *warmEnv) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

func getHash(db barefn.DynamoDB) func(context.Context) error {
	return func(ctx context.Context) error { return barefn.GetHash(ctx, db, benchTable, barefn.Hash) }
}

func unlinkCalls(db barefn.DynamoDB) func(context.Context) error {
	return func(ctx context.Context) error {
		return barefn.Unlink(ctx, db, benchTable, barefn.UserKey, barefn.Referrer, time.Now())
	}
}

// setupWarm builds every case: each function on its subject's request against the mapped instant
// endpoint; a new link against an empty one and the Toss simulator in process, over mTLS.
func setupWarm(fx *fixtures) (we *warmEnv, err error) {
	we = &warmEnv{}
	defer func() {
		if err != nil {
			we.close()
		}
	}()
	// The PKI, key and AAD of a secret the simulator agrees with.
	ca, err := devcert.NewCA("bench Toss simulator CA")
	if err != nil {
		return nil, err
	}
	srvCert, srvKey, err := ca.Issue("localhost", []string{"localhost", "127.0.0.1"}, false)
	if err != nil {
		return nil, err
	}
	cliCert, cliKey, err := ca.Issue("partner-client", nil, true)
	if err != nil {
		return nil, err
	}
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	doc := secrets.Document{DecryptionKey: base64.StdEncoding.EncodeToString(key), AAD: "BENCH_AAD",
		MTLSCertificate: string(cliCert), MTLSPrivateKey: string(cliKey), UnlinkBasicAuth: devenv.DefaultBasicAuth}
	we.mapped = newInstant(true, doc)
	we.closers = append(we.closers, we.mapped.Close)
	empty := newInstant(false, doc)
	we.closers = append(we.closers, empty.Close)
	sim, err := tosssim.New(tosssim.Config{Key: key, AAD: doc.AAD, ClientCAs: ca.Pool(), ServerCertPEM: srvCert, ServerKeyPEM: srvKey})
	if err != nil {
		return nil, err
	}
	if err := sim.Start("127.0.0.1:0", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	we.closers = append(we.closers, func() { sim.Close() })

	cfg, err := fnconfig.FromEnv(func(k string) string {
		return map[string]string{"TABLE_NAME": benchTable, "SECRET_ID": benchSecretID, "TOSS_API_BASE_URL": sim.APIURL(),
			"ALLOW_SANDBOX_LINKS": "true"}[k] // its codes are the sandbox's
	}, fnconfig.TableAndSecret)
	if err != nil {
		return nil, err
	}
	cfg.TossRoots = ca.Pool()
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))

	db, sm := awsClients(we.mapped.URL)
	handlers := devenv.Handlers(cfg, log, db, sm)
	for _, fn := range functions() {
		s := subjects[fn]
		we.cases = append(we.cases, warmCase{key: fn, label: s.label, call: handlerCall(handlers[fn], s.event(fx), s.want),
			bare: s.bare(db), bareDesc: s.bareDesc})
	}
	dbEmpty, smEmpty := awsClients(empty.URL)
	linkNew := devenv.Link(cfg, log, dbEmpty, smEmpty)
	var evs []events.APIGatewayV2HTTPRequest
	user := tosssim.FakeUser(barefn.UserKey)
	we.cases = append(we.cases, warmCase{key: "link-new", label: "link, new link (Toss simulator in process)",
		prepare: func(n int) {
			evs = evs[:0]
			for range n {
				evs = append(evs, fx.linkEvent("bench-new", sim.Authorize(user, "SANDBOX")))
			}
		},
		call: func(ctx context.Context) error {
			ev := evs[0]
			evs = evs[1:]
			return handlerCall(linkNew, ev, `{"success":true}`)(ctx)
		}})

	// Check each answer once before measuring anything.
	ctx, cancel := lambdaCtx()
	defer cancel()
	for _, c := range we.cases {
		if c.prepare != nil {
			c.prepare(1)
		}
		if err := c.call(ctx); err != nil {
			return nil, fmt.Errorf("in process, %s: %w", c.label, err)
		}
	}
	return we, nil
}

func handlerCall(h httpapi.Handler, ev events.APIGatewayV2HTTPRequest, want string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		resp, err := h(ctx, ev)
		if err != nil || resp.StatusCode != 200 || resp.Body != want {
			return fmt.Errorf("answer %d %s (%v), want 200 %s", resp.StatusCode, resp.Body, err, want)
		}
		return nil
	}
}

// warmResult is one case's measurements.
type warmResult struct {
	warmCase
	allocs, bareAllocs sample // per request
	ns, bareNs         sample // per request, from the paired timings
	ratios             sample // handler time over baseline time, per paired timing (of medians)
}

const (
	allocReps = 3    // medians of 3: a connection pool refill now and then moves a count by one or two
	allocRuns = 1000 // requests per count
	// pairedPairs is how many handler/baseline pairs one paired timing takes.
	pairedPairs = 400
)

// measureWarm counts allocations per request (both modes) and, in a full run, times the handler
// against its baseline.
func measureWarm(we *warmEnv, c config) ([]*warmResult, error) {
	var out []*warmResult
	for _, wc := range we.cases {
		r := &warmResult{warmCase: wc}
		for range allocReps {
			n, err := allocs(wc.call, wc.prepare)
			if err != nil {
				return nil, fmt.Errorf("in process, %s: %w", wc.label, err)
			}
			r.allocs = append(r.allocs, n)
			if wc.bare != nil {
				if n, err = allocs(wc.bare, nil); err != nil {
					return nil, fmt.Errorf("in process, bare %s: %w", wc.label, err)
				}
				r.bareAllocs = append(r.bareAllocs, n)
			}
		}
		for i := 0; wc.bare != nil && !c.deterministic && i < c.warmReps; i++ {
			th, tb, err := paired(wc.call, wc.bare)
			if err != nil {
				return nil, fmt.Errorf("in process, %s: %w", wc.label, err)
			}
			r.ns, r.bareNs, r.ratios = append(r.ns, th), append(r.bareNs, tb), append(r.ratios, th/tb)
		}
		out = append(out, r)
	}
	return out, nil
}

// allocs is the allocations per call of allocRuns calls (the process's: the SDK's, the loopback
// server's and, for link-new, the simulator's are counted too).
func allocs(call func(context.Context) error, prepare func(int)) (float64, error) {
	ctx, cancel := lambdaCtx()
	defer cancel()
	if prepare != nil {
		prepare(allocRuns + 1) // AllocsPerRun makes one more call first, to warm up
	}
	var err error
	n := testing.AllocsPerRun(allocRuns, func() {
		if e := call(ctx); e != nil && err == nil {
			err = e
		}
	})
	return n, err
}

// paired times the handler and its baseline call by call, alternating which goes first, and
// returns the median of each in ns. Pairing call by call cancels the drift of a shared machine
// that separate benchmark runs pick up, and medians ignore the calls another process preempted
// (one 10 ms stall among 400 calls of 0.2 ms would move a mean by 12 %).
func paired(hcall, bcall func(ctx context.Context) error) (hNs, bNs float64, err error) {
	ctx, cancel := lambdaCtx()
	defer cancel()
	var th, tb sample
	timed := func(call func(context.Context) error, times *sample) error {
		start := time.Now()
		err := call(ctx)
		*times = append(*times, float64(time.Since(start)))
		return err
	}
	for i := range pairedPairs {
		first, second, s1, s2 := hcall, bcall, &th, &tb
		if i%2 == 1 {
			first, second, s1, s2 = bcall, hcall, &tb, &th
		}
		if err := timed(first, s1); err != nil {
			return 0, 0, err
		}
		if err := timed(second, s2); err != nil {
			return 0, 0, err
		}
	}
	return th.median(), tb.median(), nil
}
