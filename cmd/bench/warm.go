package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	fnconfig "github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/tosssim"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
)

// The warm, in-process benchmarks: each handler exactly as app wires it, against a DynamoDB (and
// Secrets Manager) endpoint on loopback that answers at once with minimal valid JSON, with a JSON
// logger writing to io.Discard (the production logger's formatting, without the write). The
// baseline is the bare SDK call(s) the handler cannot avoid, with the same inputs the store
// builds, through the same client to the same endpoint: the ratio is our overhead.

const (
	benchTable    = "bench-table"
	benchSecretID = "bench-secret"
	benchUserKey  = 443731104
	benchHash     = "demo-hash-1" // the fixtures' hash
)

// instant is an in-process AWS endpoint that answers GetItem, TransactWriteItems and
// GetSecretValue at once. mapped chooses whether GetItem finds an item.
type instant struct {
	*httptest.Server
	bodies map[string][]byte
	crcs   map[string]string
}

func newInstant(mapped bool, secret secrets.Document) *instant {
	doc, _ := json.Marshal(secret)
	sm, _ := json.Marshal(map[string]any{"ARN": "arn:aws:secretsmanager:ap-northeast-2:123456789012:secret:" + benchSecretID + "-AbCdEf",
		"Name": benchSecretID, "SecretString": string(doc), "VersionId": "v1", "CreatedDate": 1.7e9})
	get := `{"Item":{"pk":{"S":"h#` + benchHash + `"},"hash":{"S":"` + benchHash + `"},"userKey":{"N":"` + strconv.Itoa(benchUserKey) + `"}}}`
	if !mapped {
		get = `{}`
	}
	in := &instant{bodies: map[string][]byte{
		"DynamoDB_20120810.GetItem":            []byte(get),
		"DynamoDB_20120810.TransactWriteItems": []byte(`{}`),
		"secretsmanager.GetSecretValue":        sm,
	}, crcs: map[string]string{}}
	for k, b := range in.bodies {
		in.crcs[k] = strconv.FormatUint(uint64(crc32.ChecksumIEEE(b)), 10)
	}
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
	h.Set("X-Amz-Crc32", in.crcs[op]) // DynamoDB sends it and the SDK checks it
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// awsClients are built as awsenv.Load, awsenv.DynamoDB and secrets.NewClient build them (static credentials from the
// environment, a base endpoint), pointed at the instant endpoint.
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

func discardLogger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// warmCase is one handler benchmark and its baseline (nil: none).
type warmCase struct {
	key, label string
	handler    func(b *testing.B)
	baseline   func(b *testing.B)
	// One call each, for the paired ratio (nil for cases without a baseline).
	hcall, bcall func(ctx context.Context) error
	baselineDesc string
	budgeted     bool // overhead ratio held to the budget
}

// warmEnv holds what the cases share; close it after the benchmarks.
type warmEnv struct {
	cases   []warmCase
	closers []func()
}

func (w *warmEnv) close() {
	for i := len(w.closers) - 1; i >= 0; i-- {
		w.closers[i]()
	}
}

// setupWarm builds every case: status, link on a mapped hash and unlink against the instant
// endpoint; a new link against an empty instant endpoint and the Toss simulator in process.
func setupWarm(fx *fixtures) (*warmEnv, error) {
	we := &warmEnv{}
	ok := false
	defer func() {
		if !ok {
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

	mapped := newInstant(true, doc)
	we.closers = append(we.closers, mapped.Close)
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
	log := discardLogger()
	cfg.TossRoots = ca.Pool()

	db, sm := awsClients(mapped.URL)
	dbEmpty, smEmpty := awsClients(empty.URL)
	status := devenv.Status(cfg, log, db)
	link := devenv.Link(cfg, log, db, sm)
	unlink := devenv.Unlink(cfg, log, db, sm)
	linkNew := devenv.Link(cfg, log, dbEmpty, smEmpty)

	statusEv := fx.statusEvent(benchHash)
	linkEv := fx.linkEvent(benchHash, "not-spent-on-a-mapped-hash")
	unlinkEv := fx.unlinkEvent(benchUserKey)

	// Check each answer once before timing anything.
	ctx, cancel := lambdaCtx()
	defer cancel()
	for _, c := range []struct {
		h    httpapi.Handler
		ev   events.APIGatewayV2HTTPRequest
		want string
	}{{status, statusEv, `{"isMapped":true}`}, {link, linkEv, `{"success":true}`}, {unlink, unlinkEv, `{"success":true}`},
		{linkNew, fx.linkEvent("bench-new", sim.Authorize(tosssim.FakeUser(benchUserKey), "SANDBOX")), `{"success":true}`}} {
		resp, err := c.h(ctx, c.ev)
		if err != nil || resp.StatusCode != 200 || resp.Body != c.want {
			return nil, fmt.Errorf("in-process handler answered %d %s (%v), want 200 %s", resp.StatusCode, resp.Body, err, c.want)
		}
	}

	getCall := func(ctx context.Context) error { return getHash(ctx, db, benchHash) }
	unlinkCall := func(ctx context.Context) error { return unlinkCalls(ctx, db, benchUserKey) }
	we.cases = []warmCase{
		paired("status", "status", handlerCall(status, statusEv), getCall, "1 GetItem"),
		paired("link", "link, mapped hash", handlerCall(link, linkEv), getCall, "1 GetItem"),
		paired("unlink", "unlink, mapped user", handlerCall(unlink, unlinkEv), unlinkCall, "GetItem + TransactWriteItems"),
		{key: "link-new", label: "link, new link (Toss simulator in process)", handler: benchNewLink(linkNew, fx, sim)},
	}
	ok = true
	return we, nil
}

var errAnswer = errors.New("unexpected answer")

// benchErr keeps the first failure of a benchmark: testing.Benchmark only reports N == 0.
var benchErr struct {
	sync.Mutex
	err error
}

func failBench(b *testing.B, err error) {
	benchErr.Lock()
	if benchErr.err == nil {
		benchErr.err = err
	}
	benchErr.Unlock()
	b.Fatal(err) // printed by go test; testing.Benchmark only returns N == 0

}

func takeBenchErr() error {
	benchErr.Lock()
	defer benchErr.Unlock()
	err := benchErr.err
	benchErr.err = nil
	return err
}

// paired is a budgeted case: the handler and the bare SDK calls it cannot avoid, each as one call
// (for the paired ratio) and as a benchmark of that same call.
func paired(key, label string, hcall, bcall func(ctx context.Context) error, baselineDesc string) warmCase {
	return warmCase{key: key, label: label, budgeted: true, handler: benchCall(hcall), baseline: benchCall(bcall),
		baselineDesc: baselineDesc, hcall: hcall, bcall: bcall}
}

func handlerCall(h httpapi.Handler, ev events.APIGatewayV2HTTPRequest) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		resp, err := h(ctx, ev)
		if err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("%w: %d %s %v", errAnswer, resp.StatusCode, resp.Body, err)
		}
		return nil
	}
}

// pairedPairs is how many handler/baseline pairs one paired ratio times.
const pairedPairs = 400

// pairedRatio times the handler and its baseline call by call, alternating which goes first, and
// returns total handler time over total baseline time. Pairing call by call cancels the drift of
// a shared machine that separate benchmark runs pick up (tens of percent here), leaving the
// overhead the handler adds (a few percent).
func pairedRatio(hcall, bcall func(ctx context.Context) error) (float64, error) {
	ctx, cancel := lambdaCtx()
	defer cancel()
	var th, tb time.Duration
	timed := func(call func(context.Context) error, sum *time.Duration) error {
		start := time.Now()
		err := call(ctx)
		*sum += time.Since(start)
		return err
	}
	for i := range pairedPairs {
		first, second, s1, s2 := hcall, bcall, &th, &tb
		if i%2 == 1 {
			first, second, s1, s2 = bcall, hcall, &tb, &th
		}
		if err := timed(first, s1); err != nil {
			return 0, err
		}
		if err := timed(second, s2); err != nil {
			return 0, err
		}
	}
	return float64(th) / float64(tb), nil
}

// benchCall benchmarks one call (a handler through handlerCall, or bare SDK calls).
func benchCall(call func(ctx context.Context) error) func(b *testing.B) {
	return func(b *testing.B) {
		ctx, cancel := lambdaCtx()
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			if err := call(ctx); err != nil {
				failBench(b, err)
			}
		}
	}
}

// benchNewLink mints a code per iteration with the timer stopped: the timed part is the whole
// link (GetItem, generate-token and login-me over the kept mTLS connection, decryption,
// TransactWriteItems), simulator's server side included since it runs in this process.
func benchNewLink(h httpapi.Handler, fx *fixtures, sim *tosssim.Server) func(b *testing.B) {
	user := tosssim.FakeUser(benchUserKey)
	return func(b *testing.B) {
		ctx, cancel := lambdaCtx()
		defer cancel()
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			ev := fx.linkEvent("bench-new", sim.Authorize(user, "SANDBOX"))
			b.StartTimer()
			resp, err := h(ctx, ev)
			if err != nil || resp.StatusCode != 200 {
				failBench(b, fmt.Errorf("%w: %d %s %v", errAnswer, resp.StatusCode, resp.Body, err))
			}
		}
	}
}

// getHash is store.IsMapped's GetItem, bare.
func getHash(ctx context.Context, db *dynamodb.Client, hash string) error {
	_, err := db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:            aws.String(benchTable),
		Key:                  map[string]types.AttributeValue{store.KeyAttribute: &types.AttributeValueMemberS{Value: "h#" + hash}},
		ConsistentRead:       aws.Bool(true),
		ProjectionExpression: aws.String(store.KeyAttribute),
	})
	return err
}

// unlinkCalls is store.Unlink's GetItem and TransactWriteItems, bare.
func unlinkCalls(ctx context.Context, db *dynamodb.Client, userKey int64) error {
	uk := strconv.FormatInt(userKey, 10)
	userItem := map[string]types.AttributeValue{store.KeyAttribute: &types.AttributeValueMemberS{Value: "u#" + uk}}
	out, err := db.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String(benchTable), Key: userItem, ConsistentRead: aws.Bool(true)})
	if err != nil {
		return err
	}
	h, _ := out.Item["hash"].(*types.AttributeValueMemberS)
	if h == nil {
		return errors.New("no hash in the item")
	}
	_, err = db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Delete: &types.Delete{TableName: aws.String(benchTable), Key: userItem,
			ConditionExpression:       aws.String("#h = :h"),
			ExpressionAttributeNames:  map[string]string{"#h": "hash"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":h": &types.AttributeValueMemberS{Value: h.Value}}}},
		{Delete: &types.Delete{TableName: aws.String(benchTable),
			Key:                       map[string]types.AttributeValue{store.KeyAttribute: &types.AttributeValueMemberS{Value: "h#" + h.Value}},
			ConditionExpression:       aws.String("#u = :u"),
			ExpressionAttributeNames:  map[string]string{"#u": "userKey"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":u": &types.AttributeValueMemberN{Value: uk}}}},
	}})
	return err
}

// warmResult is one case over reps runs of testing.Benchmark, handler and baseline back to back.
type warmResult struct {
	c                          warmCase
	ns, bytes, allocs          sample // handler, per op
	baseNs, baseBytes, baseAll sample // baseline, per op
	ratios                     sample // paired ratio (pairedRatio) of each run
	failed                     string
}

func perOp(r testing.BenchmarkResult) (ns, bytes, allocs float64) {
	if r.N == 0 {
		return 0, 0, 0
	}
	n := float64(r.N)
	return float64(r.T.Nanoseconds()) / n, float64(r.MemBytes) / n, float64(r.MemAllocs) / n
}

// measureWarm runs every case reps times; each time the handler and its baseline run back to
// back (in alternating order), so that their ratio is taken under the same machine load.
// testing.Benchmark's benchtime is the -test.benchtime flag (set by main).
func measureWarm(we *warmEnv, reps int) []*warmResult {
	var out []*warmResult
	for _, c := range we.cases {
		out = append(out, &warmResult{c: c})
	}
	for i := range reps {
		for _, r := range out {
			if r.failed != "" {
				continue
			}
			var h, base testing.BenchmarkResult
			order := []bool{true, false} // handler first on even runs, baseline first on odd ones
			if i%2 == 1 {
				order = []bool{false, true}
			}
			for _, handler := range order {
				switch {
				case handler:
					if h = testing.Benchmark(r.c.handler); h.N == 0 {
						r.failed = fmt.Sprintf("handler benchmark failed: %v", takeBenchErr())
					}
				case r.c.baseline != nil:
					if base = testing.Benchmark(r.c.baseline); base.N == 0 {
						r.failed = fmt.Sprintf("baseline benchmark failed: %v", takeBenchErr())
					}
				}
				if r.failed != "" {
					break
				}
			}
			if r.failed != "" {
				continue
			}
			ns, b, a := perOp(h)
			r.ns, r.bytes, r.allocs = append(r.ns, ns), append(r.bytes, b), append(r.allocs, a)
			if r.c.baseline != nil {
				bns, bb, ba := perOp(base)
				r.baseNs, r.baseBytes, r.baseAll = append(r.baseNs, bns), append(r.baseBytes, bb), append(r.baseAll, ba)
				ratio, err := pairedRatio(r.c.hcall, r.c.bcall)
				if err != nil {
					r.failed = fmt.Sprintf("paired ratio failed: %v", err)
					continue
				}
				r.ratios = append(r.ratios, ratio)
			}
		}
	}
	return out
}
