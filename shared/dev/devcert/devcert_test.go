package devcert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net"
	"testing"
	"time"

	"github.com/tossgame/migration-server/shared/dev/devcert"
)

func mustCA(t *testing.T, name string) *devcert.CA {
	t.Helper()
	ca, err := devcert.NewCA(name)
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("not a CERTIFICATE PEM block: %q", certPEM)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("ParseCertificate: %v", err)
	}
	return cert
}

func TestIssuedLeavesVerifyOnlyForTheirPurposeAndCA(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "test CA")
	other := mustCA(t, "other CA")

	serverPEM, _, err := ca.Issue("server", []string{"localhost", "127.0.0.1", "::1"}, false)
	if err != nil {
		t.Fatal(err)
	}
	clientPEM, _, err := ca.Issue("client", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	server, client := parseCert(t, serverPEM), parseCert(t, clientPEM)

	tests := []struct {
		name    string
		cert    *x509.Certificate
		roots   *x509.CertPool
		usage   x509.ExtKeyUsage
		dnsName string
		wantOK  bool
	}{
		{"a server leaf verifies for server auth by DNS name", server, ca.Pool(), x509.ExtKeyUsageServerAuth, "localhost", true},
		{"a server leaf verifies for server auth by IPv4", server, ca.Pool(), x509.ExtKeyUsageServerAuth, "127.0.0.1", true},
		{"a server leaf verifies for server auth by IPv6", server, ca.Pool(), x509.ExtKeyUsageServerAuth, "::1", true},
		{"a server leaf does not verify for a host it was not issued for", server, ca.Pool(), x509.ExtKeyUsageServerAuth, "example.com", false},
		{"a server leaf does not verify for client auth", server, ca.Pool(), x509.ExtKeyUsageClientAuth, "", false},
		{"a client leaf verifies for client auth", client, ca.Pool(), x509.ExtKeyUsageClientAuth, "", true},
		{"a client leaf does not verify for server auth", client, ca.Pool(), x509.ExtKeyUsageServerAuth, "", false},
		{"a leaf does not verify against another CA", client, other.Pool(), x509.ExtKeyUsageClientAuth, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := tt.cert.Verify(x509.VerifyOptions{
				Roots:       tt.roots,
				DNSName:     tt.dnsName,
				KeyUsages:   []x509.ExtKeyUsage{tt.usage},
				CurrentTime: time.Now(),
			})
			if (err == nil) != tt.wantOK {
				t.Fatalf("Verify error = %v, want ok=%v", err, tt.wantOK)
			}
		})
	}
}

func TestIssuedKeyIsPKCS8P256AndMatchesTheCertificate(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "test CA")
	certPEM, keyPEM, err := ca.Issue("client", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil || block.Type != "PRIVATE KEY" {
		t.Fatalf("key PEM type = %v, want PRIVATE KEY", block)
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		t.Fatalf("ParsePKCS8PrivateKey: %v", err)
	}
	ec, ok := key.(*ecdsa.PrivateKey)
	if !ok || ec.Curve != elliptic.P256() {
		t.Fatalf("key is %T, want ECDSA P-256", key)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("X509KeyPair: %v", err)
	}
}

func TestValidityRunsFromAnHourAgoForAYear(t *testing.T) {
	t.Parallel()
	before := time.Now()
	ca := mustCA(t, "test CA")
	certPEM, _, err := ca.Issue("server", []string{"localhost"}, false)
	if err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	leaf, root := parseCert(t, certPEM), parseCert(t, ca.CertPEM())

	// Certificate times have second precision, hence the one-second slack.
	if leaf.NotBefore.Before(before.Add(-time.Hour-time.Second)) || leaf.NotBefore.After(after.Add(-time.Hour)) {
		t.Errorf("leaf NotBefore = %v, want about an hour before %v", leaf.NotBefore, before)
	}
	if leaf.NotAfter.Before(before.AddDate(1, 0, 0).Add(-time.Second)) || leaf.NotAfter.After(after.AddDate(1, 0, 0)) {
		t.Errorf("leaf NotAfter = %v, want about a year after %v", leaf.NotAfter, before)
	}
	if !root.IsCA || root.NotAfter.Before(leaf.NotAfter) {
		t.Errorf("CA IsCA=%v NotAfter=%v: want a CA that outlives its leaves (%v)", root.IsCA, root.NotAfter, leaf.NotAfter)
	}
}

func TestMutualTLSHandshakeSucceedsWithLeavesFromTheSameCA(t *testing.T) {
	t.Parallel()
	ca := mustCA(t, "test CA")
	other := mustCA(t, "other CA")
	srvCert, srvKey, err := ca.Issue("server", []string{"localhost"}, false)
	if err != nil {
		t.Fatal(err)
	}
	serverPair, err := tls.X509KeyPair(srvCert, srvKey)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		issuer *devcert.CA
		wantOK bool
	}{
		{"a client cert from the server's CA is accepted", ca, true},
		{"a client cert from another CA is refused", other, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cliCert, cliKey, err := tt.issuer.Issue("client", nil, true)
			if err != nil {
				t.Fatal(err)
			}
			clientPair, err := tls.X509KeyPair(cliCert, cliKey)
			if err != nil {
				t.Fatal(err)
			}
			c1, c2 := net.Pipe()
			defer c1.Close()
			defer c2.Close()
			srv := tls.Server(c1, &tls.Config{
				Certificates: []tls.Certificate{serverPair},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    ca.Pool(),
			})
			cli := tls.Client(c2, &tls.Config{
				Certificates: []tls.Certificate{clientPair},
				RootCAs:      ca.Pool(),
				ServerName:   "localhost",
			})
			errc := make(chan error, 1)
			go func() {
				err := srv.Handshake()
				// Unblock the client, which may still wait for the server's reply.
				c1.Close()
				errc <- err
			}()
			// The verdict is the server's to give. Read until the pipe closes: in TLS 1.3 the
			// client finishes first, and the server's alert or tickets must be drained or the
			// synchronous pipe blocks it.
			if cli.Handshake() == nil {
				io.Copy(io.Discard, cli)
			}
			srvErr := <-errc
			if (srvErr == nil) != tt.wantOK {
				t.Fatalf("server handshake error = %v, want ok=%v", srvErr, tt.wantOK)
			}
		})
	}
}
