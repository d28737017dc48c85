package metrics

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"

	"github.com/tossgame/migration-server/shared/metrics/emftest"
)

var (
	certsMu sync.Mutex
	certs   = map[string]*x509.Certificate{}
)

// testCert is a self-signed certificate valid until notAfter; serial tells two apart.
func testCert(t *testing.T, notAfter time.Time, serial int64) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "partner-client"},
		NotBefore: notAfter.Add(-500 * 24 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	// Each call makes a new key, so a new certificate: cache by (notAfter, serial) so that a
	// golden line can name the certificate it was given.
	k := fmt.Sprint(notAfter.UnixNano(), serial)
	certsMu.Lock()
	defer certsMu.Unlock()
	if prev, ok := certs[k]; ok {
		return prev
	}
	certs[k] = c
	return c
}

// recorded runs f with a Set and returns the datapoints its metrics give.
func recorded(t *testing.T, f func(ctx context.Context)) []string {
	t.Helper()
	ctx, s := With(context.Background())
	f(ctx)
	var buf bytes.Buffer
	s.logAt(ctx, jsonLog(&buf, false), slog.LevelInfo, "request", "TossMigration", at, nil, nil)
	if buf.Len() == 0 {
		return nil
	}
	var got []emftest.Datapoint
	for _, l := range lines(&buf) {
		if !bytes.Contains(l, []byte(`"_aws"`)) {
			continue
		}
		got = append(got, checkEMF(t, l)...)
	}
	return sorted(got)
}

func TestTossCallRecordsLatencyAndWhetherTossFailed(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want []string
	}{
		{"a call that succeeded", nil, []string{
			"TossMigration/TossErrors[Call=login-me]=0 Count", "TossMigration/TossLatency[Call=login-me]=12.345 Milliseconds"}},
		{"a call Toss failed", fmt.Errorf("login-me: %w", apperr.ErrTossUnavailable), []string{
			"TossMigration/TossErrors[Call=login-me]=1 Count", "TossMigration/TossLatency[Call=login-me]=12.345 Milliseconds"}},
		{"a timeout", context.DeadlineExceeded, []string{
			"TossMigration/TossErrors[Call=login-me]=1 Count", "TossMigration/TossLatency[Call=login-me]=12.345 Milliseconds"}},
		{"invalid_grant is the player's code, not a Toss failure", fmt.Errorf("generate-token: %w", apperr.ErrInvalidCode), []string{
			"TossMigration/TossErrors[Call=login-me]=0 Count", "TossMigration/TossLatency[Call=login-me]=12.345 Milliseconds"}},
	} {
		got := recorded(t, func(ctx context.Context) { TossCall(ctx, CallLoginMe, 12345*time.Microsecond, c.err) })
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestSecretFetchCountsRefreshesAndFailuresByFunction(t *testing.T) {
	t.Parallel()
	got := recorded(t, func(ctx context.Context) {
		SecretFetch(ctx, "link", nil)
		SecretFetch(ctx, "link", nil)
		SecretFetch(ctx, "unlink", errors.New("AccessDeniedException"))
	})
	want := []string{"TossMigration/SecretRefreshFailures[Function=unlink]=1 Count",
		"TossMigration/SecretRefreshes[Function=link]=1 Count", "TossMigration/SecretRefreshes[Function=link]=1 Count"}
	if !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}

func TestCertificateDaysLeftGivesEachPairAndTheLeast(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	older := testCert(t, now.Add(10*24*time.Hour+12*time.Hour), 10)
	newer := testCert(t, now.Add(380*24*time.Hour), 11)
	expired := testCert(t, now.Add(-2*24*time.Hour), 12)
	cases := []struct {
		name  string
		certs []*x509.Certificate
		want  []string
	}{
		{"one pair", []*x509.Certificate{newer}, []string{
			"TossMigration/CertificateDaysLeft[Certificate=" + Fingerprint(newer) + "]=380 None",
			"TossMigration/CertificateDaysLeft[]=380 None"}},
		{"two pairs during a rotation: the least is the older's", []*x509.Certificate{newer, older}, []string{
			"TossMigration/CertificateDaysLeft[Certificate=" + Fingerprint(newer) + "]=380 None",
			"TossMigration/CertificateDaysLeft[Certificate=" + Fingerprint(older) + "]=10.5 None",
			"TossMigration/CertificateDaysLeft[]=10.5 None"}},
		{"an expired pair counts below zero", []*x509.Certificate{expired, nil}, []string{
			"TossMigration/CertificateDaysLeft[Certificate=" + Fingerprint(expired) + "]=-2 None",
			"TossMigration/CertificateDaysLeft[]=-2 None"}},
		{"no pair, no metric", nil, nil},
	}
	for _, c := range cases {
		got := recorded(t, func(ctx context.Context) { CertificateDaysLeft(ctx, now, c.certs...) })
		slices.Sort(c.want)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}

func TestTheFingerprintIsTheStartOfTheCertificatesSHA256(t *testing.T) {
	t.Parallel()
	c := testCert(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 20)
	// What the documented openssl recipe computes: SHA-256 over the DER of the PEM block.
	block, _ := pem.Decode(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}))
	sum := sha256.Sum256(block.Bytes)
	if got, want := Fingerprint(c), hex.EncodeToString(sum[:])[:16]; got != want {
		t.Errorf("Fingerprint %s, want %s", got, want)
	}
	if Fingerprint(c) == Fingerprint(testCert(t, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), 21)) {
		t.Error("two certificates share a fingerprint")
	}
}

func TestTheOtherHelpersUseTheDocumentedNames(t *testing.T) {
	t.Parallel()
	got := recorded(t, func(ctx context.Context) {
		EventPublished(ctx, "UserLinked")
		EventFailed(ctx)
		TossLoginRemoval(ctx, nil)
		TossLoginRemoval(ctx, errors.New("toss said no"))
	})
	want := []string{"TossMigration/EventsFailed[]=1 Count", "TossMigration/EventsPublished[DetailType=UserLinked]=1 Count",
		"TossMigration/TossLoginRemovals[Outcome=failed]=1 Count", "TossMigration/TossLoginRemovals[Outcome=removed]=1 Count"}
	if !slices.Equal(got, want) {
		t.Errorf("%v, want %v", got, want)
	}
}
