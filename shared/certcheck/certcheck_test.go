package certcheck

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/metrics/emftest"
	"github.com/tossgame/migration-server/shared/secrets"
)

func TestMain(m *testing.M) { devenv.RunTests(m) }

// event reads one of the events EventBridge sends the function (events/certcheck/).
func event(t *testing.T, name string) events.EventBridgeEvent {
	t.Helper()
	raw, err := os.ReadFile("../../events/certcheck/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var ev events.EventBridgeEvent
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}

// run invokes the check as its main wires it, against stack's secret (or secretID), at now.
func run(t *testing.T, stack *devenv.Stack, secretID string, ev events.EventBridgeEvent, now time.Time) ([]byte, error) {
	t.Helper()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{ReplaceAttr: lambdacontext.ReplaceAttr}))
	cache := secrets.NewCache(Metered(stack.SM, Function), secretID, 0, secrets.ParseLink, log)
	h := Handler(cache.Get, Options{Log: log, Namespace: "TossMigration", Now: func() time.Time { return now }})
	err := h(context.Background(), ev)
	return buf.Bytes(), err
}

func leaf(t *testing.T, certPEM string) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode([]byte(certPEM))
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestTheCheckPublishesTheDaysLeftOfTheSecretsCertificate(t *testing.T) {
	t.Parallel()
	stack := devenv.ForTest(t, devenv.Options{})
	cert := leaf(t, stack.Doc.MTLSCertificate)
	now := cert.NotAfter.Add(-(30*24*time.Hour + 6*time.Hour)) // 30.25 days before it expires
	for _, c := range []struct{ file, trigger string }{
		{"schedule.json", "Scheduled Event"},
		{"deploy.json", "CloudFormation Stack Status Change"},
	} {
		t.Run(c.file, func(t *testing.T) {
			log, err := run(t, stack, stack.SecretID, event(t, c.file), now)
			if err != nil {
				t.Fatalf("the check failed: %v\n%s", err, log)
			}
			got, err := emftest.ParseLog(log)
			if err != nil {
				t.Fatal(err)
			}
			fp := metrics.Fingerprint(cert)
			want := []string{"TossMigration/CertificateDaysLeft[Certificate=" + fp + "]=30.25 None",
				"TossMigration/CertificateDaysLeft[]=30.25 None",
				"TossMigration/SecretRefreshes[Function=certcheck]=1 Count"}
			slices.Sort(want)
			if g := emftest.Strings(got); !slices.Equal(g, want) {
				t.Errorf("CloudWatch would extract %v, want %v", g, want)
			}
			var line struct {
				Level, Message, Trigger string
				Certificates            []struct {
					Certificate, Subject, NotAfter string
					DaysLeft                       float64
				}
			}
			if err := json.Unmarshal(bytes.SplitN(log, []byte("\n"), 2)[0], &line); err != nil {
				t.Fatal(err)
			}
			if line.Level != "INFO" || line.Message != "certificate check" || line.Trigger != c.trigger ||
				len(line.Certificates) != 1 || line.Certificates[0].Certificate != fp || line.Certificates[0].DaysLeft != 30.25 ||
				line.Certificates[0].NotAfter != cert.NotAfter.UTC().Format(time.RFC3339) {
				t.Errorf("log line %s", log)
			}
			for _, secret := range []string{"PRIVATE KEY", stack.Doc.DecryptionKey, stack.AAD, stack.BasicAuth, "BEGIN CERTIFICATE"} {
				if bytes.Contains(log, []byte(secret)) {
					t.Errorf("the log carries %q: %s", secret, log)
				}
			}
		})
	}
}

func TestACheckThatCannotReadTheCertificateFailsTheInvocation(t *testing.T) {
	t.Parallel()
	stack := devenv.ForTest(t, devenv.Options{})
	broken := stack.Doc
	broken.MTLSCertificate = ""
	brokenID, err := devenv.PutSecret(context.Background(), stack.SM, "toss-migration/broken-"+devenv.Unique(), broken)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, secretID string
		want           []string
		says           string
	}{
		{"a secret that does not exist", "toss-migration/missing-" + devenv.Unique(),
			[]string{"TossMigration/SecretRefreshFailures[Function=certcheck]=1 Count"}, "ResourceNotFound"},
		{"a secret without a certificate", brokenID,
			[]string{"TossMigration/SecretRefreshes[Function=certcheck]=1 Count"}, `secret field "mtlsCertificate": missing`},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			log, err := run(t, stack, c.secretID, event(t, "schedule.json"), time.Now())
			if err == nil {
				t.Fatalf("the check succeeded; it must fail so that Lambda's Errors alarm sees it\n%s", log)
			}
			got, perr := emftest.ParseLog(log)
			if perr != nil {
				t.Fatal(perr)
			}
			if g := emftest.Strings(got); !slices.Equal(g, c.want) {
				t.Errorf("CloudWatch would extract %v, want %v (no days left for a certificate not read)", g, c.want)
			}
			says, _ := json.Marshal(c.says) // as the JSON line spells it
			if !bytes.Contains(log, []byte(`"level":"ERROR","message":"certificate check failed"`)) ||
				!bytes.Contains(log, bytes.Trim(says, `"`)) {
				t.Errorf("the log does not say why (%q): %s", c.says, log)
			}
		})
	}
}

func TestThePairsAreListedWithOrWithoutAParsedLeaf(t *testing.T) {
	t.Parallel()
	stack := devenv.ForTest(t, devenv.Options{})
	pair, err := tls.X509KeyPair([]byte(stack.Doc.MTLSCertificate), []byte(stack.Doc.MTLSPrivateKey))
	if err != nil {
		t.Fatal(err)
	}
	want := metrics.Fingerprint(leaf(t, stack.Doc.MTLSCertificate))
	unparsed := pair
	unparsed.Leaf = nil
	for name, l := range map[string]secrets.Link{"parsed": {Pairs: []secrets.Pair{{Field: "mtlsCertificate", Certificate: pair}}},
		"unparsed": {Pairs: []secrets.Pair{{Field: "mtlsCertificate", Certificate: unparsed}}}} {
		certs, err := certificates(l)
		if err != nil || len(certs) != 1 || metrics.Fingerprint(certs[0]) != want {
			t.Errorf("%s: %d certificates, %v", name, len(certs), err)
		}
	}
	if _, err := certificates(secrets.Link{}); err == nil {
		t.Error("a secret without a certificate gave no error")
	}
	if _, err := certificates(secrets.Link{Pairs: []secrets.Pair{{Field: "mtlsCertificate", Certificate: tls.Certificate{Certificate: [][]byte{[]byte("junk")}}}}}); err == nil {
		t.Error("a certificate that does not parse gave no error")
	}
}

// The day count agrees with the certificate's own dates, wherever now falls.
func TestDaysLeftFollowTheCertificate(t *testing.T) {
	t.Parallel()
	stack := devenv.ForTest(t, devenv.Options{})
	cert := leaf(t, stack.Doc.MTLSCertificate)
	for _, before := range []time.Duration{0, time.Hour, 7 * 24 * time.Hour, -48 * time.Hour} {
		log, err := run(t, stack, stack.SecretID, event(t, "schedule.json"), cert.NotAfter.Add(-before))
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("TossMigration/CertificateDaysLeft[]=%g None", math.Round(before.Hours()/24*100)/100)
		got, _ := emftest.ParseLog(log)
		if !slices.Contains(emftest.Strings(got), want) {
			t.Errorf("%v before expiry: %v, want %s", before, emftest.Strings(got), want)
		}
	}
}
