package metrics

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
)

// The metric and dimension names are a contract with the template's dashboard and alarms
// (docs/metrics.md): the helpers below are the only places that spell them.
const (
	nameRequests              = "Requests"
	namePanics                = "Panics"
	nameTossLatency           = "TossLatency"
	nameTossErrors            = "TossErrors"
	nameSecretRefreshes       = "SecretRefreshes"
	nameSecretRefreshFailures = "SecretRefreshFailures"
	nameCertificateDaysLeft   = "CertificateDaysLeft"
	nameEventsPublished       = "EventsPublished"
	nameEventsFailed          = "EventsFailed"
	nameTossLoginRemovals     = "TossLoginRemovals"
)

// The Call dimension's values: one per Toss partner API call.
const (
	CallGenerateToken = "generate-token"
	CallLoginMe       = "login-me"
	CallVerifyHash    = "verify-hash"
	CallRemoveAccess  = "remove-access"
)

// Request is the count of one request of route (a function name: status, link, unlink) by
// outcome, for Set.Log to carry on the request's own line. Extra dimensions (unlink's Referrer)
// add a second dimension set, so that the [Route, Outcome] series stays whole whatever the
// extra ones say.
func Request(route, outcome string, extra ...Dim) Metric {
	dims := make([]Dim, 2, 2+len(extra))
	dims[0], dims[1] = Dim{"Route", route}, Dim{"Outcome", outcome}
	m := Metric{Name: nameRequests, Unit: Count, Value: 1, Dims: append(dims, extra...)}
	if len(extra) > 0 {
		m.Sets = requestSets(extra)
	}
	return m
}

// requestSets are the dimension sets of a request counted with extra dimensions: [Route,
// Outcome] and [Route, Outcome, extra...]. They are the same for every request of a route, so
// they are made once per list of names.
func requestSets(extra []Dim) [][]string {
	key := extra[0].Name
	for _, d := range extra[1:] {
		key += "\x00" + d.Name
	}
	if sets, ok := setsCache.Load(key); ok {
		return sets.([][]string)
	}
	all := []string{"Route", "Outcome"}
	for _, d := range extra {
		all = append(all, d.Name)
	}
	sets := [][]string{{"Route", "Outcome"}, all}
	setsCache.Store(key, sets)
	return sets
}

var setsCache sync.Map // requestSets by the extra dimensions' names

// Panic is the count of one panic the request wrapper of route recovered.
func Panic(route string) Metric {
	return Metric{Name: namePanics, Unit: Count, Value: 1, Dims: []Dim{{"Route", route}}}
}

// TossCall records one call to the Toss partner API (call: CallGenerateToken, ...): its latency,
// and TossErrors 1 when it failed or 0 when it did not, so that the sum counts failures and the
// average is the failure rate. Toss's invalid_grant (apperr.ErrInvalidCode) is the player's
// spent or expired code, not a failure of Toss: it counts 0.
func TossCall(ctx context.Context, call string, d time.Duration, err error) {
	dim := Dim{"Call", call}
	Add(ctx, nameTossLatency, Milliseconds, math.Round(float64(d.Microseconds()))/1000, dim)
	failed := 0.0
	if err != nil && !errors.Is(err, apperr.ErrInvalidCode) {
		failed = 1
	}
	Add(ctx, nameTossErrors, Count, failed, dim)
}

// SecretFetch records one fetch of the secret from Secrets Manager by function (link, unlink,
// certcheck): SecretRefreshes when it succeeded, SecretRefreshFailures when it did not.
func SecretFetch(ctx context.Context, function string, err error) {
	name := nameSecretRefreshes
	if err != nil {
		name = nameSecretRefreshFailures
	}
	Add(ctx, name, Count, 1, Dim{"Function", function})
}

// CertificateDaysLeft records the days each mTLS certificate has left at now (negative once
// expired), by Certificate (its Fingerprint), and the smallest of them with no dimension, which
// the expiry alarms watch. Nil certificates are skipped.
func CertificateDaysLeft(ctx context.Context, now time.Time, certs ...*x509.Certificate) {
	if s := From(ctx); s != nil {
		for _, m := range CertificateMetrics(now, certs...) {
			s.Put(m)
		}
	}
}

// CertificateMetrics are CertificateDaysLeft's metrics, for Emit. The certificate with the
// fewest days also carries the dimensionless value, so one certificate is one log line.
func CertificateMetrics(now time.Time, certs ...*x509.Certificate) []Metric {
	var out []Metric
	least := -1
	for _, c := range certs {
		if c == nil {
			continue
		}
		days := math.Round(c.NotAfter.Sub(now).Hours()/24*100) / 100
		out = append(out, Metric{Name: nameCertificateDaysLeft, Unit: None, Value: days,
			Dims: []Dim{{"Certificate", Fingerprint(c)}}, Sets: [][]string{{"Certificate"}}})
		if least < 0 || days < out[least].Value {
			least = len(out) - 1
		}
	}
	if least >= 0 {
		out[least].Sets = [][]string{{}, {"Certificate"}}
	}
	return out
}

// Fingerprint names a certificate in metrics: the first 16 hex digits of the SHA-256 of its DER
// form (`openssl x509 -in cert.pem -outform der | sha256sum | cut -c1-16`). It identifies the
// certificate only, never the key.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:8])
}

// EventPublished counts one event the stream consumer put on the bus, by its detail type.
func EventPublished(ctx context.Context, detailType string) {
	Add(ctx, nameEventsPublished, Count, 1, Dim{"DetailType", detailType})
}

// EventFailed counts one stream record the consumer could not publish.
func EventFailed(ctx context.Context) {
	Add(ctx, nameEventsFailed, Count, 1)
}

// TossLoginRemoval counts one removal of the player's Toss login at link (REMOVE_TOSS_LOGIN_AT_LINK):
// Outcome removed, or failed when err is not nil.
func TossLoginRemoval(ctx context.Context, err error) {
	outcome := "removed"
	if err != nil {
		outcome = "failed"
	}
	Add(ctx, nameTossLoginRemovals, Count, 1, Dim{"Outcome", outcome})
}

// TossCallClassed is TossCall for an observer that hears the call's class (toss.Class) rather
// than its error: "ok" and "invalid_grant" (the player's code, not Toss's failure) count 0.
func TossCallClassed(ctx context.Context, call string, d time.Duration, class string) {
	var err error
	if class != "ok" && class != "invalid_grant" {
		err = errors.New(class)
	}
	TossCall(ctx, call, d, err)
}

// SecretFetchOutcome is SecretFetch for an observer that hears the fetch's outcome
// (secrets.Fetch.Outcome): anything but "ok" is a failure.
func SecretFetchOutcome(ctx context.Context, function, outcome string) {
	var err error
	if outcome != "ok" {
		err = errors.New(outcome)
	}
	SecretFetch(ctx, function, err)
}
