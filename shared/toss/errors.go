package toss

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Classes of a call's outcome, as Call reports them (low cardinality, for metrics).
const (
	ClassOK                  = "ok"
	ClassInvalidGrant        = "invalid_grant"        // the code or token is spent or expired
	ClassFail                = "toss_error"           // a FAIL envelope or an error status
	ClassMalformed           = "malformed"            // an answer that is not the documented JSON
	ClassTimeout             = "timeout"              // no answer within CallTimeout or the deadline
	ClassNetwork             = "network"              // refused, reset, DNS, the server's certificate
	ClassCertificateRejected = "certificate_rejected" // Toss refused our client certificate
)

// Class names how a call ended.
func Class(err error) string {
	var fail *FailError
	var rejected *CertificateRejectedError
	var netErr net.Error
	var urlErr *url.Error
	switch {
	case err == nil:
		return ClassOK
	case errors.As(err, &rejected):
		return ClassCertificateRejected
	case errors.Is(err, apperr.ErrInvalidCode):
		return ClassInvalidGrant
	case errors.As(err, &fail):
		// A 2xx whose body is not the documented JSON is malformed; any error status, whatever
		// its body (a gateway's HTML page), is Toss's or its gateway's error.
		if fail.Status/100 == 2 && (fail.Code == codeMalformed || fail.Code == codeEmpty) {
			return ClassMalformed
		}
		return ClassFail
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout
	case errors.As(err, &urlErr), errors.As(err, &netErr):
		return ClassNetwork
	default:
		return ClassMalformed // an answer that decoded, yet lacks what the call needs
	}
}

// CertificateRejectedError is Toss refusing our client certificate at the TLS handshake (an
// alert such as bad_certificate, unknown_ca or certificate_expired): the certificate is not
// registered in the console, revoked or expired. It is a configuration fault of ours
// (apperr.ErrNotConfigured, 503), not "Toss unavailable, try later": retrying cannot help until
// the secret or the console changes. The request never reached Toss, so the code is unspent.
type CertificateRejectedError struct {
	Pair  string // which pair of the secret, e.g. "mtlsCertificates[1]"
	Alert string // the alert's text, e.g. "tls: unknown certificate authority"
}

func (e *CertificateRejectedError) Error() string {
	return fmt.Sprintf("Toss rejected client certificate %s at the TLS handshake (%s)", e.Pair, e.Alert)
}

func (e *CertificateRejectedError) Unwrap() error { return apperr.ErrNotConfigured }

// NoValidCertificateError is a secret none of whose pairs is valid at the moment of use.
type NoValidCertificateError struct {
	Loaded int
	At     time.Time
}

func (e *NoValidCertificateError) Error() string {
	return fmt.Sprintf("none of the %d mTLS certificate(s) in the secret is valid at %s", e.Loaded, e.At.UTC().Format(time.RFC3339))
}

func (e *NoValidCertificateError) Unwrap() error { return apperr.ErrNotConfigured }

// certificateAlerts are the TLS alerts (RFC 8446 §6.2) by which a server refuses the client's
// certificate.
var certificateAlerts = map[uint8]bool{
	42:  true, // bad_certificate (also what Go's server sends when VerifyConnection refuses)
	43:  true, // unsupported_certificate
	44:  true, // certificate_revoked
	45:  true, // certificate_expired
	46:  true, // certificate_unknown
	48:  true, // unknown_ca
	49:  true, // access_denied
	116: true, // certificate_required
}

// clientCertificateAlert finds, in a transport error, an alert the server sent about our
// certificate. crypto/tls reports a received alert as a *net.OpError "remote error" around an
// unexported uint8 type (and, for QUIC, a tls.AlertError): read its number, not its text.
func clientCertificateAlert(err error) (string, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) && certificateAlerts[uint8(ae)] {
		return ae.Error(), true
	}
	var op *net.OpError
	for e := err; errors.As(e, &op); e = op.Err {
		if op.Op != "remote error" || op.Err == nil {
			continue
		}
		v := reflect.ValueOf(op.Err)
		if v.Kind() == reflect.Uint8 && v.Type().PkgPath() == "crypto/tls" && certificateAlerts[uint8(v.Uint())] {
			return op.Err.Error(), true
		}
		return "", false
	}
	return "", false
}
