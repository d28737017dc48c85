// Package secrets reads the product's one Secrets Manager secret (JSON), checks the fields a
// function needs, and caches the result per container with a TTL. A refresh that fails for a
// moment keeps the last good value, so a Secrets Manager blip does not take a warm function
// down; a secret that is gone (deleted, access denied) stops being honoured at once.
package secrets

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Document is the secret's JSON shape (docs/runbooks.md shows it whole):
//
//	{
//	  "decryptionKey": "<Base64 of 32 bytes>",
//	  "aad": "<the e-mailed AAD string>",
//	  "mtlsCertificates": [
//	    {"certificate": "<PEM>", "privateKey": "<PEM>"},
//	    {"certificate": "<PEM>", "privateKey": "<PEM>"}
//	  ],
//	  "unlinkBasicAuth": "<the console's value>",
//	  "unlinkBasicAuthNext": "<the value being rotated in, or absent>"
//	}
//
// The single-pair shape (mtlsCertificate and mtlsPrivateKey at the top level) still works, and
// may sit beside mtlsCertificates: it is then one more pair. Every pair present is checked; the
// Toss client uses, at each call, the pair valid at that moment with the latest NotBefore, so a
// rotation is "add the new pair, later remove the old one", with nothing redeployed.
//
// The callback accepts unlinkBasicAuth and, when set, unlinkBasicAuthNext: during a rotation the
// console may send either.
type Document struct {
	DecryptionKey       string     `json:"decryptionKey"`
	AAD                 string     `json:"aad"`
	MTLSCertificate     string     `json:"mtlsCertificate,omitempty"`
	MTLSPrivateKey      string     `json:"mtlsPrivateKey,omitempty"`
	MTLSCertificates    []PairJSON `json:"mtlsCertificates,omitempty"`
	UnlinkBasicAuth     string     `json:"unlinkBasicAuth"`
	UnlinkBasicAuthNext string     `json:"unlinkBasicAuthNext,omitempty"`
}

// PairJSON is one element of mtlsCertificates: a certificate and its private key, both PEM.
type PairJSON struct {
	Certificate string `json:"certificate"`
	PrivateKey  string `json:"privateKey"`
}

// Link is what the link function needs: the field decryption key and AAD, and the mTLS pairs.
type Link struct {
	Key   []byte
	AAD   string
	Pairs []Pair
}

// Pair is one checked mTLS certificate and its key.
type Pair struct {
	// Field says where the pair came from ("mtlsCertificate" or "mtlsCertificates[1]"), for
	// messages: it never carries the value.
	Field       string
	Certificate tls.Certificate // Leaf is set
	// Fingerprint is the SHA-256 of the certificate (DER), as `openssl x509 -fingerprint
	// -sha256` shows it: it identifies the pair, so that a rotated secret gets a new connection
	// pool while an unchanged one keeps its warm connections.
	Fingerprint [32]byte
}

// CertificateInfo describes a loaded certificate without its key: safe to log and to emit as a
// metric (CertificateDaysLeft).
type CertificateInfo struct {
	Field       string
	Subject     string // the certificate's common name (Toss: the app name)
	Fingerprint string // hex SHA-256 of the DER
	NotBefore   time.Time
	NotAfter    time.Time
}

// Certificates lists the pairs' certificates, in the secret's order.
func (l Link) Certificates() []CertificateInfo {
	out := make([]CertificateInfo, len(l.Pairs))
	for i, p := range l.Pairs {
		leaf := p.Certificate.Leaf
		out[i] = CertificateInfo{Field: p.Field, Subject: leaf.Subject.CommonName,
			Fingerprint: hex.EncodeToString(p.Fingerprint[:]), NotBefore: leaf.NotBefore, NotAfter: leaf.NotAfter}
	}
	return out
}

// Unlink is what the unlink callback needs: the Basic Auth values it accepts. None means not
// configured, and the callback then refuses everything.
type Unlink struct {
	BasicAuth     string // unlinkBasicAuth: the console's current value
	BasicAuthNext string // unlinkBasicAuthNext: the value being rotated in ("" = none)
}

// Values are the accepted values, empty ones left out.
func (u Unlink) Values() []string {
	var out []string
	for _, v := range []string{u.BasicAuth, u.BasicAuthNext} {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// FieldError names the bad field of a malformed secret. It never carries the value.
type FieldError struct {
	Field  string
	Reason string
}

func (e *FieldError) Error() string { return fmt.Sprintf("secret field %q: %s", e.Field, e.Reason) }

func decode(raw []byte) (Document, error) {
	var d Document
	if err := json.Unmarshal(raw, &d); err != nil {
		// json's message can quote the input: report only the position-free kind of failure.
		return d, errors.New("secret is not a JSON object with string fields")
	}
	return d, nil
}

// ParseLink checks and converts the fields the link function uses.
func ParseLink(raw []byte) (Link, error) {
	d, err := decode(raw)
	if err != nil {
		return Link{}, err
	}
	var l Link
	if d.DecryptionKey == "" {
		return l, &FieldError{"decryptionKey", "missing"}
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(d.DecryptionKey))
	if err != nil {
		return l, &FieldError{"decryptionKey", "not standard Base64"}
	}
	if len(key) != 32 {
		return l, &FieldError{"decryptionKey", fmt.Sprintf("decodes to %d bytes, want 32 (AES-256)", len(key))}
	}
	if d.AAD == "" {
		return l, &FieldError{"aad", "missing"}
	}
	pairs, err := parsePairs(d)
	if err != nil {
		return l, err
	}
	l.Key, l.AAD, l.Pairs = key, d.AAD, pairs
	return l, nil
}

// parsePairs checks every pair: one that does not parse fails the whole secret, so that a
// mistake shows when it is made, not when its turn comes.
func parsePairs(d Document) ([]Pair, error) {
	var pairs []Pair
	if d.MTLSCertificate != "" || d.MTLSPrivateKey != "" || len(d.MTLSCertificates) == 0 {
		if d.MTLSCertificate == "" {
			if len(d.MTLSCertificates) == 0 && d.MTLSPrivateKey == "" {
				return nil, &FieldError{"mtlsCertificate", "missing (set mtlsCertificates, or mtlsCertificate and mtlsPrivateKey)"}
			}
			return nil, &FieldError{"mtlsCertificate", "missing"}
		}
		if d.MTLSPrivateKey == "" {
			return nil, &FieldError{"mtlsPrivateKey", "missing"}
		}
		p, err := parsePair("mtlsCertificate", d.MTLSCertificate, d.MTLSPrivateKey)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, p)
	}
	for i, pj := range d.MTLSCertificates {
		field := fmt.Sprintf("mtlsCertificates[%d]", i)
		if pj.Certificate == "" {
			return nil, &FieldError{field + ".certificate", "missing"}
		}
		if pj.PrivateKey == "" {
			return nil, &FieldError{field + ".privateKey", "missing"}
		}
		p, err := parsePair(field, pj.Certificate, pj.PrivateKey)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, p)
	}
	return pairs, nil
}

func parsePair(field, certPEM, keyPEM string) (Pair, error) {
	cert, err := tls.X509KeyPair([]byte(certPEM), []byte(keyPEM))
	if err != nil || cert.Leaf == nil {
		// crypto/tls's message is safe (it names no bytes), but a fixed text is certain to be.
		return Pair{}, &FieldError{field, "certificate and private key are not a matching PEM pair"}
	}
	return Pair{Field: field, Certificate: cert, Fingerprint: sha256.Sum256(cert.Leaf.Raw)}, nil
}

// ParseUnlink checks and converts the fields the unlink callback uses.
func ParseUnlink(raw []byte) (Unlink, error) {
	d, err := decode(raw)
	if err != nil {
		return Unlink{}, err
	}
	return Unlink{BasicAuth: d.UnlinkBasicAuth, BasicAuthNext: d.UnlinkBasicAuthNext}, nil
}
