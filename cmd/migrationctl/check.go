package main

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/toss"
)

func checkCommand() command {
	return command{
		name: "check", args: "[--secret ID] [--probe]",
		summary: "the secret as the functions read it: every field, key length, certificates (chain, key match, expiry), a decrypt self-test; --probe calls Toss once",
		setup: func(fs *flag.FlagSet, a *app) func(context.Context) error {
			secretID := fs.String("secret", "", "the secret's name or `ARN` (default: the stack's link function's SECRET_ID, or the local stack's)")
			probe := fs.Bool("probe", false, "also make one harmless mTLS call to Toss per certificate (generate-token with a junk code: invalid_grant proves certificate and route)")
			tossAPI := fs.String("toss-api", "", "Toss partner API base `URL` for --probe (default: the link function's TOSS_API_BASE_URL, else Toss production)")
			caFile := fs.String("toss-ca-file", "", "extra CA `file` (PEM) to trust for --probe (the local stack's simulator CA is found by itself)")
			warnDays := fs.Int("warn-days", 30, "warn when a certificate expires within this many `days`")
			return func(ctx context.Context) error {
				src, err := a.checkSource(ctx, *secretID, *tossAPI, *caFile)
				if err != nil {
					return err
				}
				sm, err := a.secretsManager(ctx)
				if err != nil {
					return err
				}
				out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &src.secretID})
				var missing *smtypes.ResourceNotFoundException
				if errors.As(err, &missing) {
					return fmt.Errorf("secret %q not found (%s)", src.secretID, src.from)
				}
				if err != nil {
					return fmt.Errorf("read secret %q: %w", src.secretID, err)
				}
				raw := []byte(aws.ToString(out.SecretString))
				if out.SecretString == nil {
					raw = out.SecretBinary
				}
				rep := inspectSecret(raw, time.Now(), *warnDays, src.clientCAs)
				rep.Secret, rep.Version, rep.From = aws.ToString(out.ARN), aws.ToString(out.VersionId), src.from
				if *probe {
					rep.probe(ctx, src.tossAPI, src.roots)
				}
				rep.OK = !rep.failed()
				if !rep.OK {
					a.exitCode = exitError
				}
				if a.g.json {
					return printJSON(a.sys.stdout, rep)
				}
				return rep.print(a)
			}
		},
	}
}

// checkSource is where check finds the secret and Toss.
type checkSource struct {
	secretID string
	from     string // how the secret was found, for the report
	tossAPI  string
	roots    *x509.CertPool // nil: the system's roots (Toss production)
	// clientCAs verify the secret's certificate chain: the simulator's CA, which signs both its
	// server certificate and the local client certificate. Toss's root is not public: nil.
	clientCAs *x509.CertPool
}

func (a *app) checkSource(ctx context.Context, secretID, tossAPI, caFile string) (checkSource, error) {
	src := checkSource{secretID: secretID, from: "--secret", tossAPI: tossAPI}
	switch {
	case a.g.local:
		s, err := a.localState()
		if err != nil {
			return src, err
		}
		if src.secretID == "" {
			src.secretID, src.from = s.SecretID, "the local stack"
		}
		if src.tossAPI == "" {
			src.tossAPI = s.TossAPI
		}
		if caFile == "" {
			caFile = s.TossCAFile
		}
	case a.g.stack != "" && secretID == "":
		env, err := a.linkFunctionEnv(ctx)
		if err != nil {
			return src, err
		}
		src.secretID, src.from = env["SECRET_ID"], "SECRET_ID of stack "+a.g.stack+"'s link function"
		if src.secretID == "" {
			return src, fmt.Errorf("stack %q's link function has no SECRET_ID", a.g.stack)
		}
		if src.tossAPI == "" {
			src.tossAPI = env["TOSS_API_BASE_URL"]
		}
	case secretID == "":
		return src, usagef("check: which secret? give --secret ID, --stack NAME or --local")
	}
	if src.tossAPI == "" {
		src.tossAPI = toss.DefaultBaseURL
	}
	if caFile != "" {
		pemBytes, err := os.ReadFile(caFile)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pemBytes) {
			return src, fmt.Errorf("check: %s is not a readable PEM CA file", caFile)
		}
		src.roots = pool
		if a.g.local {
			src.clientCAs = pool
		}
	}
	return src, nil
}

// finding is one verdict: ok, warn (works, but act soon) or fail (a function would fail).
type finding struct {
	Check  string `json:"check"`
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// certInfo describes one certificate; nothing in it is secret.
type certInfo struct {
	Pair      string `json:"pair"`
	Position  int    `json:"position"` // 1 = the leaf, then its issuers as the PEM lists them
	Subject   string `json:"subject"`
	Issuer    string `json:"issuer"`
	Serial    string `json:"serial"`
	NotBefore string `json:"notBefore"`
	NotAfter  string `json:"notAfter"`
	DaysLeft  int    `json:"daysLeft"`
	SHA256    string `json:"sha256"`
}

type checkReport struct {
	Secret       string     `json:"secret"`
	Version      string     `json:"version"`
	From         string     `json:"from"`
	OK           bool       `json:"ok"`
	Findings     []finding  `json:"findings"`
	Certificates []certInfo `json:"certificates"`

	pairs []readyPair // the pairs that loaded, for --probe
}

type readyPair struct {
	label string
	cert  tls.Certificate
}

func (r *checkReport) add(check, status, format string, args ...any) {
	r.Findings = append(r.Findings, finding{check, status, fmt.Sprintf(format, args...)})
}

func (r *checkReport) failed() bool {
	return slices.ContainsFunc(r.Findings, func(f finding) bool { return f.Status == "fail" })
}

// certPair is one mTLS certificate (chain) and its private key as the secret holds them. A
// secret with several pairs (rotation) adds its pairs here; everything else follows.
type certPair struct{ label, cert, key string }

func certPairs(d secrets.Document) []certPair {
	return []certPair{{"mtlsCertificate", d.MTLSCertificate, d.MTLSPrivateKey}}
}

// basicAuthValue is one Basic Auth value the callback accepts; a next value (rotation) is added
// here.
type basicAuthValue struct{ label, value string }

func basicAuthValues(d secrets.Document) []basicAuthValue {
	return []basicAuthValue{{"unlinkBasicAuth", d.UnlinkBasicAuth}}
}

// inspectSecret checks everything the functions will need of raw, without a network call.
func inspectSecret(raw []byte, now time.Time, warnDays int, clientCAs *x509.CertPool) *checkReport {
	r := &checkReport{Findings: []finding{}, Certificates: []certInfo{}}
	doc, ok := r.inspectFields(raw)
	if !ok {
		return r
	}
	key := r.inspectKey(doc)
	if doc.AAD == "" {
		r.add("aad", "fail", "missing: the link function cannot decrypt login-me's fields")
	} else {
		r.add("aad", "ok", "%d bytes, sha256 %s", len(doc.AAD), fingerprint([]byte(doc.AAD)))
	}
	if key != nil && doc.AAD != "" {
		r.selfTest(key, doc.AAD)
	}
	for _, p := range certPairs(doc) {
		r.inspectPair(p, now, warnDays, clientCAs)
	}
	for _, v := range basicAuthValues(doc) {
		if v.value == "" {
			r.add(v.label, "fail", "not set: the unlink callback refuses every call (fail closed)")
			continue
		}
		form := "free text"
		if strings.Contains(v.value, ":") {
			form = "id:secret form"
		}
		r.add(v.label, "ok", "%d bytes (%s), sha256 %s; the console's value must match exactly", len(v.value), form, fingerprint([]byte(v.value)))
	}
	// The verdict of the functions' own parser, whatever the checks above say.
	if _, err := secrets.ParseLink(raw); err != nil {
		r.add("link function", "fail", "would refuse this secret: %v", err)
	} else {
		r.add("link function", "ok", "accepts this secret")
	}
	if _, err := secrets.ParseUnlink(raw); err != nil {
		r.add("unlink function", "fail", "would refuse this secret: %v", err)
	} else {
		r.add("unlink function", "ok", "accepts this secret")
	}
	return r
}

// documentFields are the JSON names secrets.Document reads, with whether each is a string.
func documentFields() map[string]bool {
	t := reflect.TypeFor[secrets.Document]()
	out := map[string]bool{}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out[name] = t.Field(i).Type.Kind() == reflect.String
		}
	}
	return out
}

func (r *checkReport) inspectFields(raw []byte) (secrets.Document, bool) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		// json's message could quote the secret: say only what kind of thing it is not.
		r.add("secret", "fail", "%d bytes, not a JSON object", len(raw))
		return secrets.Document{}, false
	}
	known := documentFields()
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
	}
	slices.Sort(names)
	var unknown []string
	for _, k := range names {
		isString, ok := known[k]
		switch {
		case !ok:
			unknown = append(unknown, k)
		case isString && (len(fields[k]) == 0 || fields[k][0] != '"'):
			r.add(k, "fail", "not a JSON string")
			return secrets.Document{}, false
		}
	}
	r.add("secret", "ok", "%d bytes, a JSON object with %d fields", len(raw), len(fields))
	if len(unknown) > 0 {
		r.add("fields", "warn", "not read by the functions (a typo?): %s", strings.Join(unknown, ", "))
	}
	var doc secrets.Document
	if err := json.Unmarshal(raw, &doc); err != nil {
		r.add("secret", "fail", "a field has an unexpected type")
		return doc, false
	}
	return doc, true
}

func (r *checkReport) inspectKey(doc secrets.Document) []byte {
	if doc.DecryptionKey == "" {
		r.add("decryptionKey", "fail", "missing")
		return nil
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(doc.DecryptionKey))
	if err != nil {
		r.add("decryptionKey", "fail", "not standard Base64")
		return nil
	}
	if len(key) != 32 {
		r.add("decryptionKey", "fail", "decodes to %d bytes, want 32 (AES-256)", len(key))
		return nil
	}
	r.add("decryptionKey", "ok", "32 bytes (AES-256), sha256 %s", fingerprint(key))
	return key
}

// selfTest seals a random value the way Toss encrypts a login-me field and opens it with the
// functions' own Decrypt, then checks that another AAD fails: the key and the AAD both take part.
func (r *checkReport) selfTest(key []byte, aad string) {
	plain := make([]byte, 16)
	rand.Read(plain)
	block, err := aes.NewCipher(key)
	if err != nil {
		r.add("decrypt self-test", "fail", "AES: %v", err)
		return
	}
	gcm, _ := cipher.NewGCM(block)
	iv := make([]byte, gcm.NonceSize())
	rand.Read(iv)
	field := base64.StdEncoding.EncodeToString(gcm.Seal(iv, iv, plain, []byte(aad)))
	got, err := toss.Decrypt(key, aad, field)
	if err != nil || got != string(plain) {
		r.add("decrypt self-test", "fail", "a field sealed with the key and AAD does not open")
		return
	}
	if _, err := toss.Decrypt(key, aad+"?", field); err == nil {
		r.add("decrypt self-test", "fail", "a field opens with another AAD")
		return
	}
	r.add("decrypt self-test", "ok", "AES-256-GCM round trip with the configured key and AAD (IV ‖ ciphertext ‖ tag, Base64)")
}

func (r *checkReport) inspectPair(p certPair, now time.Time, warnDays int, roots *x509.CertPool) {
	if p.cert == "" || p.key == "" {
		r.add(p.label, "fail", "certificate or private key missing")
		return
	}
	var chain []*x509.Certificate
	rest := []byte(p.cert)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			r.add(p.label, "fail", "holds a %q PEM block: only certificates belong here", block.Type)
			return
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			r.add(p.label, "fail", "certificate %d does not parse: %v", len(chain)+1, err)
			return
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		r.add(p.label, "fail", "no PEM certificate")
		return
	}
	for i, c := range chain {
		days := int(math.Floor(c.NotAfter.Sub(now).Hours() / 24))
		sum := sha256.Sum256(c.Raw)
		r.Certificates = append(r.Certificates, certInfo{
			Pair: p.label, Position: i + 1, Subject: c.Subject.String(), Issuer: c.Issuer.String(),
			Serial: c.SerialNumber.Text(16), NotBefore: c.NotBefore.UTC().Format(time.RFC3339),
			NotAfter: c.NotAfter.UTC().Format(time.RFC3339), DaysLeft: days, SHA256: hex.EncodeToString(sum[:]),
		})
		name := fmt.Sprintf("%s #%d", p.label, i+1)
		switch {
		case now.Before(c.NotBefore):
			r.add(name, "fail", "%s is not valid before %s", c.Subject.CommonName, c.NotBefore.UTC().Format(time.RFC3339))
		case now.After(c.NotAfter):
			r.add(name, "fail", "%s expired on %s", c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339))
		case days < warnDays:
			r.add(name, "warn", "%s expires in %d days (%s): issue a new pair in the console and add it", c.Subject.CommonName, days, c.NotAfter.UTC().Format("2006-01-02"))
		default:
			r.add(name, "ok", "%s, %d days left (until %s)", c.Subject.CommonName, days, c.NotAfter.UTC().Format("2006-01-02"))
		}
	}
	leaf := chain[0]
	if len(leaf.ExtKeyUsage) > 0 && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) && !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageAny) {
		r.add(p.label+" usage", "warn", "the leaf is not marked for client authentication")
	}
	r.inspectChain(p.label, chain, roots)

	cert, err := tls.X509KeyPair([]byte(p.cert), []byte(p.key))
	if err != nil {
		r.add(p.label+" key", "fail", "the private key does not parse or does not match the certificate")
		return
	}
	r.add(p.label+" key", "ok", "%s private key matches the leaf", keyKind(leaf))
	r.pairs = append(r.pairs, readyPair{p.label, cert})
}

// inspectChain checks that each certificate of the PEM is signed by the next, and names the
// issuer of the last: Toss's root, which the secret does not hold and the server checks.
func (r *checkReport) inspectChain(label string, chain []*x509.Certificate, roots *x509.CertPool) {
	name := label + " chain"
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			r.add(name, "fail", "certificate %d is not signed by certificate %d that follows it", i+1, i+2)
			return
		}
	}
	last := chain[len(chain)-1]
	path := fmt.Sprintf("%d certificate(s), leaf %q", len(chain), chain[0].Subject.CommonName)
	if roots != nil {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		if err != nil {
			r.add(name, "fail", "%s does not verify against the local simulator's CA: %v", path, err)
			return
		}
		r.add(name, "ok", "%s, verifies against the local simulator's CA", path)
		return
	}
	if last.CheckSignatureFrom(last) == nil && last.Subject.String() == last.Issuer.String() {
		r.add(name, "ok", "%s, ends in the self-signed %q", path, last.Subject.CommonName)
		return
	}
	r.add(name, "ok", "%s, issued by %q (not in the secret; Toss checks it)", path, last.Issuer.CommonName)
}

func keyKind(c *x509.Certificate) string {
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		return fmt.Sprintf("RSA %d-bit", k.N.BitLen())
	case *ecdsa.PublicKey:
		return "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		return "Ed25519"
	}
	return c.PublicKeyAlgorithm.String()
}

// fingerprint identifies a value without revealing it: the first 8 bytes of its SHA-256.
func fingerprint(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

// probe calls generate-token once per loaded pair with a code no one issued. Toss answering
// invalid_grant proves that the certificate was accepted and the route reaches the OAuth
// endpoint; it spends nothing and changes nothing.
func (r *checkReport) probe(ctx context.Context, base string, roots *x509.CertPool) {
	if len(r.pairs) == 0 {
		r.add("probe", "fail", "no usable certificate to probe %s with", base)
		return
	}
	for _, p := range r.pairs {
		code := make([]byte, 12)
		rand.Read(code)
		c := toss.NewClient(base, p.cert, roots)
		start := time.Now()
		_, err := c.GenerateToken(ctx, "migrationctl-probe-"+hex.EncodeToString(code), "DEFAULT")
		took := time.Since(start).Round(time.Millisecond)
		c.CloseIdle()
		name := "probe " + p.label
		var fail *toss.FailError
		switch {
		case errors.Is(err, apperr.ErrInvalidCode):
			r.add(name, "ok", "%s answered invalid_grant in %s: certificate accepted, route works", base, took)
		case err == nil:
			r.add(name, "fail", "%s accepted a junk authorization code: is this Toss?", base)
		case errors.As(err, &fail):
			r.add(name, "fail", "%s answered HTTP %d %s %s, not invalid_grant", base, fail.Status, fail.Code, fail.Reason)
		default:
			r.add(name, "fail", "no answer from %s: %s", base, transportError(err))
		}
	}
}

// transportError is the cause of a failed call without the client's wrapping and the URL.
func transportError(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, "\": "); i >= 0 {
		msg = msg[i+3:] // after `Post "https://...": `
	}
	msg = strings.TrimPrefix(msg, "generate-token: ")
	msg = strings.TrimPrefix(msg, apperr.ErrTossUnavailable.Error()+": ")
	// The TLS alert does not always survive the HTTP/2 transport's wrapping.
	if strings.Contains(msg, "tls:") || strings.Contains(msg, "http2: client conn could not be established") {
		msg += " (the TLS handshake failed: Toss did not accept this certificate, or this is not Toss's address)"
	}
	return msg
}

func (r *checkReport) print(a *app) error {
	w := a.sys.stdout
	fmt.Fprintf(w, "secret %s (version %s, from %s)\n", r.Secret, r.Version, r.From)
	for _, f := range r.Findings {
		fmt.Fprintf(w, "  %-4s  %-24s %s\n", strings.ToUpper(f.Status), f.Check, f.Detail)
	}
	for _, c := range r.Certificates {
		fmt.Fprintf(w, "  cert  %s #%d  subject %s  issuer %s  serial %s  %s .. %s  sha256 %s\n",
			c.Pair, c.Position, c.Subject, c.Issuer, c.Serial, c.NotBefore, c.NotAfter, c.SHA256[:16])
	}
	if r.OK {
		fmt.Fprintln(w, "check passed")
	} else {
		fmt.Fprintln(w, "check FAILED")
	}
	return nil
}
