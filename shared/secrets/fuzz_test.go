package secrets

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tossgame/migration-server/shared/dev/devcert"
)

// FuzzSecret feeds arbitrary secret documents to ParseLink and ParseUnlink. Errors name the bad
// field but never carry the secret's values: they end up in logs.
//
//	go test -run '^$' -fuzz '^FuzzSecret$' -fuzztime 20s ./shared/secrets/

// secretSentinels are the distinctive values the seeds put in every field.
var secretSentinels = []string{
	"AAD-SENTINEL-7f3a", "UNLINK-SENTINEL-7f3a", "KEY-SENTINEL-7f3a", "CERT-SENTINEL-7f3a", "PRIVKEY-SENTINEL-7f3a",
	"U0VOVElORUwtS0VZLTE2Qg==", // Base64 of 16 bytes
	"-----BEGIN", "PRIVATE KEY",
}

// secretErrorTexts are every error text ParseLink and ParseUnlink may produce. A piece of an
// error longer than 8 bytes that also occurs in the input must come from these.
var secretErrorTexts = collapseDigits(strings.Join([]string{
	"secret is not a JSON object with string fields",
	`secret field "decryptionKey": missing`,
	`secret field "decryptionKey": not standard Base64`,
	`secret field "decryptionKey": decodes to 0 bytes, want 32 (AES-256)`,
	`secret field "aad": missing`,
	`secret field "mtlsCertificate": missing`,
	`secret field "mtlsCertificate": missing (set mtlsCertificates, or mtlsCertificate and mtlsPrivateKey)`,
	`secret field "mtlsCertificates[0].certificate": missing`,
	`secret field "mtlsCertificates[0].privateKey": missing`,
	`secret field "mtlsCertificates[0]": certificate and private key are not a matching PEM pair`,
	`secret field "mtlsPrivateKey": missing`,
	`secret field "mtlsCertificate": certificate and private key are not a matching PEM pair`,
}, "\n"))

var secretFields = map[string]bool{"decryptionKey": true, "aad": true, "mtlsCertificate": true, "mtlsPrivateKey": true,
	"mtlsCertificates": true, "unlinkBasicAuth": true, "unlinkBasicAuthNext": true}

// fieldName is a FieldError's field without its index and member: "mtlsCertificates[3].privateKey"
// is the document's "mtlsCertificates".
func fieldName(f string) string {
	if i := strings.IndexByte(f, '['); i >= 0 {
		return f[:i]
	}
	return f
}

// collapseDigits turns every run of ASCII digits into one '#', so that "decodes to 16 bytes"
// matches the template whatever the number.
func collapseDigits(s string) string {
	var b strings.Builder
	digit := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= '0' && c <= '9' {
			if !digit {
				b.WriteByte('#')
			}
			digit = true
			continue
		}
		digit = false
		b.WriteByte(c)
	}
	return b.String()
}

// echo returns a piece of msg longer than 8 bytes that comes from input rather than from the
// fixed error texts, or "".
func echo(input []byte, msg string) string {
	for _, s := range secretSentinels {
		if strings.Contains(msg, s) {
			return s
		}
	}
	in, m := collapseDigits(string(input)), collapseDigits(msg)
	const n = 9
	for i := 0; i+n <= len(m); i++ {
		if w := m[i : i+n]; strings.Contains(in, w) && !strings.Contains(secretErrorTexts, w) {
			return w
		}
	}
	return ""
}

func FuzzSecret(f *testing.F) {
	ca, err := devcert.NewCA("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	cert, key, err := ca.Issue("client", nil, true)
	if err != nil {
		f.Fatal(err)
	}
	_, otherKey, err := ca.Issue("other", nil, true)
	if err != nil {
		f.Fatal(err)
	}
	good := Document{
		DecryptionKey:   base64.StdEncoding.EncodeToString([]byte("KEY-SENTINEL-7f3a-32-bytes-long!")),
		AAD:             "AAD-SENTINEL-7f3a",
		MTLSCertificate: string(cert),
		MTLSPrivateKey:  string(key),
		UnlinkBasicAuth: "UNLINK-SENTINEL-7f3a:pw",
	}
	add := func(mutate func(*Document)) {
		d := good
		mutate(&d)
		b, _ := json.Marshal(d)
		f.Add(b)
	}
	add(func(*Document) {})
	add(func(d *Document) { d.DecryptionKey = "" })
	add(func(d *Document) { d.DecryptionKey = "KEY-SENTINEL-7f3a not base64!!" })
	add(func(d *Document) { d.DecryptionKey = "U0VOVElORUwtS0VZLTE2Qg==" })
	add(func(d *Document) { d.DecryptionKey = "  " + good.DecryptionKey + "\n" })
	add(func(d *Document) { d.AAD = "" })
	add(func(d *Document) { d.MTLSCertificate = "" })
	add(func(d *Document) { d.MTLSPrivateKey = "" })
	add(func(d *Document) { d.MTLSCertificate = "CERT-SENTINEL-7f3a" })
	add(func(d *Document) { d.MTLSPrivateKey = "PRIVKEY-SENTINEL-7f3a" })
	add(func(d *Document) { d.MTLSPrivateKey = string(otherKey) })
	add(func(d *Document) { d.MTLSCertificate, d.MTLSPrivateKey = d.MTLSPrivateKey, d.MTLSCertificate })
	add(func(d *Document) { d.UnlinkBasicAuth = "" })
	add(func(d *Document) { d.UnlinkBasicAuthNext = "UNLINK-SENTINEL-7f3a:next" })
	add(func(d *Document) {
		d.MTLSCertificates = []PairJSON{{string(cert), string(key)}, {"CERT-SENTINEL-7f3a", "PRIVKEY-SENTINEL-7f3a"}}
	})
	add(func(d *Document) {
		d.MTLSCertificate, d.MTLSPrivateKey = "", ""
		d.MTLSCertificates = []PairJSON{{string(cert), string(key)}, {string(cert), ""}}
	})
	for _, s := range []string{
		``, `null`, `[]`, `""`, `{}`, `not json`, `{"decryptionKey":5}`, `{"aad":["AAD-SENTINEL-7f3a"]}`,
		`{"decryptionKey":"KEY-SENTINEL-7f3a`, `{"unlinkBasicAuth":"UNLINK-SENTINEL-7f3a"`,
		`{"unlinkBasicAuth":"UNLINK-SENTINEL-7f3a","unlinkBasicAuth":"x"}`,
		`{"UNLINKBASICAUTH":"UNLINK-SENTINEL-7f3a"}`,
		"{\"aad\":\"AAD-SENTINEL-7f3a\xff\"}",
	} {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, raw []byte) {
		l, lerr := ParseLink(raw)
		u, uerr := ParseUnlink(raw)
		for name, err := range map[string]error{"ParseLink": lerr, "ParseUnlink": uerr} {
			if err == nil {
				continue
			}
			if w := echo(raw, err.Error()); w != "" {
				t.Fatalf("%s: error %q repeats %q from the secret %q", name, err, w, raw)
			}
			var fe *FieldError
			if errors.As(err, &fe) && !secretFields[fieldName(fe.Field)] {
				t.Fatalf("%s: error names the field %q, which the secret does not have", name, fe.Field)
			}
		}
		if uerr != nil && (lerr == nil || lerr.Error() != uerr.Error()) {
			t.Fatalf("ParseUnlink refused the document (%v), ParseLink said %v", uerr, lerr)
		}
		if lerr == nil {
			if len(l.Key) != 32 || l.AAD == "" || len(l.Pairs) == 0 {
				t.Fatalf("ParseLink accepted an incomplete identity: key %d bytes, aad %q, %d pairs", len(l.Key), l.AAD, len(l.Pairs))
			}
			for _, p := range l.Pairs {
				if p.Certificate.Leaf == nil || p.Certificate.PrivateKey == nil {
					t.Fatalf("ParseLink accepted pair %s without a certificate or key", p.Field)
				}
			}
		}
		if uerr == nil && u.BasicAuth != "" && !json.Valid(raw) {
			t.Fatalf("ParseUnlink read %q from a document that is not JSON", u.BasicAuth)
		}
	})
}
