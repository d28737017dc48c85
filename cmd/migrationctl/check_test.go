package main

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devcert"
	"github.com/tossgame/migration-server/shared/dev/devenv"
	"github.com/tossgame/migration-server/shared/dev/localstate"
	"github.com/tossgame/migration-server/shared/secrets"
)

// checkEnv is a dev stack (moto, its secret, the Toss simulator) and a state file naming it,
// as `make run` writes it.
func checkEnv(t *testing.T) (*env, *devenv.Stack) {
	t.Helper()
	stack := devenv.ForTest(t, devenv.Options{})
	e := &env{t: t, vars: map[string]string{}, endpoint: stack.Moto.Endpoint}
	e.state = localstate.State{PID: os.Getpid(), Region: devenv.Region, DynamoDB: stack.Moto.Endpoint, SecretsManager: stack.Moto.Secrets,
		Table: stack.Table, SecretID: stack.SecretID, TossAPI: stack.Sim.APIURL(), TossCAFile: stack.CAFile}
	e.writeState()
	return e, stack
}

// secretValues are the strings of a secret that must never be printed.
func secretValues(d secrets.Document) []string {
	var out []string
	for _, v := range []string{d.DecryptionKey, d.AAD, d.UnlinkBasicAuth} {
		if v != "" {
			out = append(out, v)
		}
	}
	if b, _ := pem.Decode([]byte(d.MTLSPrivateKey)); b != nil {
		out = append(out, base64.StdEncoding.EncodeToString(b.Bytes)[:40])
	}
	return out
}

func noSecretIn(t *testing.T, d secrets.Document, outputs ...string) {
	t.Helper()
	for _, out := range outputs {
		for _, v := range secretValues(d) {
			if strings.Contains(out, v) {
				t.Fatalf("check printed a secret value (%d bytes) in:\n%s", len(v), out)
			}
		}
	}
}

func TestCheckPassesOnTheLocalSecretAndTheProbeReachesTheSimulator(t *testing.T) {
	t.Parallel()
	e, stack := checkEnv(t)
	text := e.ok("", "--local", "check", "--probe")
	for _, want := range []string{"OK decryptionKey 32 bytes (AES-256)", "OK aad", "OK decrypt self-test",
		"OK mtlsCertificate #1 partner-client", "OK mtlsCertificate chain 1 certificate(s), leaf \"partner-client\", verifies against the local simulator's CA",
		"OK mtlsCertificate key ECDSA P-256 private key matches the leaf", "OK unlinkBasicAuth 25 bytes (id:secret form)",
		"OK link function accepts this secret", "OK unlink function accepts this secret",
		"OK probe mtlsCertificate " + stack.Sim.APIURL() + " answered invalid_grant", "check passed"} {
		if !hasLine(text, want) {
			t.Errorf("check lacks %q:\n%s", want, text)
		}
	}
	var rep map[string]any
	out := e.ok("", "--local", "--json", "check")
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep["ok"] != true || get(rep, "certificates", 0, "daysLeft").(float64) < 364 {
		t.Fatalf("check --json: %v\n%s", err, out)
	}
	noSecretIn(t, stack.Doc, text, out)
}

func TestCheckFailsOnASecretTheFunctionsWouldRefuseAndSaysWhyWithoutPrintingIt(t *testing.T) {
	t.Parallel()
	e, stack := checkEnv(t)
	good := stack.Doc
	otherCA, err := devcert.NewCA("Someone else's CA")
	if err != nil {
		t.Fatal(err)
	}
	strayCert, strayKey, err := otherCA.Issue("stray", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		edit   func(d *secrets.Document)
		check  string // the finding that fails
		detail string
	}{
		{"a 16-byte key", func(d *secrets.Document) { d.DecryptionKey = base64.StdEncoding.EncodeToString(make([]byte, 16)) }, "decryptionKey", "decodes to 16 bytes, want 32"},
		{"a key that is not Base64", func(d *secrets.Document) { d.DecryptionKey = "not base64!" }, "decryptionKey", "not standard Base64"},
		{"no AAD", func(d *secrets.Document) { d.AAD = "" }, "aad", "missing"},
		{"a private key of another certificate", func(d *secrets.Document) { d.MTLSPrivateKey = string(strayKey) }, "mtlsCertificate key", "does not match"},
		{"a certificate of another CA", func(d *secrets.Document) { d.MTLSCertificate, d.MTLSPrivateKey = string(strayCert), string(strayKey) }, "mtlsCertificate chain", "does not verify"},
		{"the key pasted as the certificate", func(d *secrets.Document) { d.MTLSCertificate = d.MTLSPrivateKey }, "mtlsCertificate", `holds a "PRIVATE KEY" PEM block`},
		{"no Basic Auth value", func(d *secrets.Document) { d.UnlinkBasicAuth = "" }, "unlinkBasicAuth", "refuses every call"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := good
			tt.edit(&d)
			id, err := devenv.PutSecret(context.Background(), stack.SM, "check-"+devenv.Unique(), d)
			if err != nil {
				t.Fatal(err)
			}
			r := e.ctl("", "--local", "--json", "check", "--secret", id)
			if r.code != 1 || r.stderr != "" {
				t.Fatalf("exit %d, stderr %q: want 1 and a report", r.code, r.stderr)
			}
			var rep checkReport
			if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
				t.Fatal(err)
			}
			found := false
			for _, f := range rep.Findings {
				if f.Check == tt.check && f.Status == "fail" && strings.Contains(f.Detail, tt.detail) {
					found = true
				}
			}
			if !found || rep.OK {
				t.Fatalf("no failed %q saying %q in %+v", tt.check, tt.detail, rep.Findings)
			}
			text := e.ctl("", "--local", "check", "--secret", id)
			if !strings.HasSuffix(text.stdout, "check FAILED\n") {
				t.Errorf("text report does not end in FAILED:\n%s", text.stdout)
			}
			noSecretIn(t, d, r.stdout, text.stdout, text.stderr)
		})
	}
}

func TestCheckProbeFailsWhenTossRefusesTheCertificate(t *testing.T) {
	t.Parallel()
	e, stack := checkEnv(t)
	otherCA, _ := devcert.NewCA("Not the console's CA")
	cert, key, _ := otherCA.Issue("stranger", nil, true)
	d := stack.Doc
	d.MTLSCertificate, d.MTLSPrivateKey = string(cert), string(key)
	id, err := devenv.PutSecret(context.Background(), stack.SM, "stranger-"+devenv.Unique(), d)
	if err != nil {
		t.Fatal(err)
	}
	r := e.ctl("", "--local", "check", "--secret", id, "--probe")
	if r.code != 1 || !hasLine(r.stdout, "FAIL probe mtlsCertificate no answer from "+stack.Sim.APIURL()+": ") {
		t.Fatalf("exit %d:\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestCheckSeesEachCertificatesDaysLeft(t *testing.T) {
	t.Parallel()
	ca, _ := devcert.NewCA("Toss appsintoss Root CA")
	certPEM, keyPEM, _ := ca.Issue("my-game", nil, true)
	block, _ := pem.Decode(certPEM)
	leaf, _ := x509.ParseCertificate(block.Bytes)
	doc := secrets.Document{DecryptionKey: base64.StdEncoding.EncodeToString(make([]byte, 32)), AAD: "AAD",
		MTLSCertificate: string(certPEM), MTLSPrivateKey: string(keyPEM), UnlinkBasicAuth: "id:secret"}
	raw, _ := json.Marshal(doc)
	tests := []struct {
		name   string
		now    time.Time
		status string
		detail string
	}{
		{"a fresh certificate", leaf.NotAfter.AddDate(0, 0, -200), "ok", "my-game, 200 days left"},
		{"one expiring within the warning window", leaf.NotAfter.Add(-10*24*time.Hour - time.Hour), "warn", "expires in 10 days"},
		{"an expired one", leaf.NotAfter.Add(time.Hour), "fail", "expired on"},
		{"one not yet valid", leaf.NotBefore.Add(-time.Hour), "fail", "not valid before"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := inspectSecret(raw, tt.now, 30, nil)
			var got finding
			for _, f := range rep.Findings {
				if f.Check == "mtlsCertificate #1" {
					got = f
				}
			}
			if got.Status != tt.status || !strings.Contains(got.Detail, tt.detail) {
				t.Fatalf("finding %+v, want %s %q", got, tt.status, tt.detail)
			}
			if rep.failed() != (tt.status == "fail") {
				t.Fatalf("report failed = %v with a %s certificate", rep.failed(), tt.status)
			}
		})
	}
	// Without the simulator's CA, the chain names its issuer: Toss's root, which the secret lacks.
	rep := inspectSecret(raw, time.Now(), 30, nil)
	for _, f := range rep.Findings {
		if f.Check == "mtlsCertificate chain" && !strings.Contains(f.Detail, `issued by "Toss appsintoss Root CA" (not in the secret`) {
			t.Fatalf("chain finding %+v", f)
		}
	}
}

func TestCheckReadsFieldsAsTheFunctionsDo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, check, status, detail string
	}{
		{"not JSON", `{"decryptionKey":`, "secret", "fail", "not a JSON object"},
		{"a number where a string belongs", `{"aad":5}`, "aad", "fail", "not a JSON string"},
		{"a misspelt field", `{"mtlsCert":"x","aad":"a"}`, "fields", "warn", "mtlsCert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := inspectSecret([]byte(tt.raw), time.Now(), 30, nil)
			for _, f := range rep.Findings {
				if f.Check == tt.check && f.Status == tt.status && strings.Contains(f.Detail, tt.detail) {
					return
				}
			}
			t.Fatalf("no %s %q finding saying %q in %+v", tt.status, tt.check, tt.detail, rep.Findings)
		})
	}
	// Every field secrets.Document reads is known: a new one needs no change here.
	if known := documentFields(); len(known) < 5 || !known["unlinkBasicAuth"] {
		t.Fatalf("documentFields = %v", known)
	}
}

func TestCheckOfAMissingSecretIsOneLine(t *testing.T) {
	t.Parallel()
	e, _ := checkEnv(t)
	oneLineError(t, e.ctl("", "--local", "check", "--secret", "no/such/secret"), 1, `secret "no/such/secret" not found`)
	oneLineError(t, (&env{t: t, vars: map[string]string{}}).ctl("", "--table", "t", "check"), 2, "which secret?")
}
