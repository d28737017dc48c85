// Package devcert makes throw-away PKI (ECDSA P-256, PEM) for tests and local runs: a CA and the
// server and client leaves it signs, such as the mTLS pair a partner gets from the Toss console.
// Nothing it makes is fit for production: keys live in memory and are never protected.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"time"
)

// backdate absorbs clock skew between the process that issues and the one that verifies.
const backdate = time.Hour

// CA is a self-signed certificate authority held in memory.
type CA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

// NewCA makes a self-signed CA valid from an hour ago for two years, so that every leaf it
// issues (valid one year) expires before it does.
func NewCA(commonName string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcert: generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"devcert"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devcert: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcert: parse CA certificate: %w", err)
	}
	return &CA{
		cert:    cert,
		key:     key,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
	}, nil
}

// CertPEM returns the CA certificate as PEM; callers get their own copy.
func (ca *CA) CertPEM() []byte {
	return append([]byte(nil), ca.certPEM...)
}

// Pool returns a fresh pool holding only this CA, for tls.Config.RootCAs or ClientCAs.
func (ca *CA) Pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	return pool
}

// Issue makes a leaf signed by the CA. hosts may hold DNS names and IPs (SANs); client=true sets
// ExtKeyUsageClientAuth, otherwise ServerAuth. Validity: from now-1h to now+1 year. The key is
// returned as PKCS#8 PEM ("PRIVATE KEY").
func (ca *CA) Issue(commonName string, hosts []string, client bool) (certPEM, keyPEM []byte, err error) {
	now := time.Now()
	return ca.IssueValid(commonName, hosts, client, now.Add(-backdate), now.AddDate(1, 0, 0))
}

// IssueValid is Issue with a chosen validity, for tests of rotation and expiry: a pair issued
// later, one not yet valid, one already expired. X.509 keeps whole seconds.
func (ca *CA) IssueValid(commonName string, hosts []string, client bool, notBefore, notAfter time.Time) (certPEM, keyPEM []byte, err error) {
	if ca == nil || ca.key == nil {
		return nil, nil, errors.New("devcert: Issue on a nil CA")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: generate leaf key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	usage := x509.ExtKeyUsageServerAuth
	if client {
		usage = x509.ExtKeyUsageClientAuth
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"devcert"}},
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		// ECDSA keys sign; they never encipher, so DigitalSignature is the only usage needed.
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
		BasicConstraintsValid: true,
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: create leaf certificate: %w", err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("devcert: marshal leaf key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	return certPEM, keyPEM, nil
}

// newSerial draws a random 128-bit serial: RFC 5280 wants them unique per CA, and random ones
// are unique without any state.
func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, fmt.Errorf("devcert: draw serial: %w", err)
	}
	return serial, nil
}
