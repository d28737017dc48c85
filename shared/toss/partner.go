package toss

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Identity is what Partner needs from the secret: the mTLS certificate and the decryption key.
type Identity struct {
	Certificate tls.Certificate
	Fingerprint [32]byte // changes when the certificate or key changes
	Key         []byte
	AAD         string
}

// IdentitySource returns the current identity (from a cached secret).
type IdentitySource func(ctx context.Context) (Identity, error)

// Partner logs a user in with Toss: code -> token -> login-me -> decrypted profile. It keeps one
// Client per certificate, so warm invocations reuse their TLS connections and a rotated
// certificate takes effect on the next call.
type Partner struct {
	base     string
	roots    *x509.CertPool
	identity IdentitySource

	mu     sync.Mutex
	client *Client
	fp     [32]byte
}

// NewPartner returns a Partner for the API at baseURL. roots nil means the system roots.
func NewPartner(baseURL string, roots *x509.CertPool, identity IdentitySource) *Partner {
	return &Partner{base: baseURL, roots: roots, identity: identity}
}

func (p *Partner) clientFor(id Identity) *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.client == nil || p.fp != id.Fingerprint {
		if p.client != nil {
			p.client.CloseIdle()
		}
		p.client, p.fp = NewClient(p.base, id.Certificate, p.roots), id.Fingerprint
	}
	return p.client
}

// Login exchanges code (with referrer forwarded exactly as received) and returns the userKey and
// every encrypted field of login-me, decrypted. Exactly two calls to Toss on success.
func (p *Partner) Login(ctx context.Context, code, referrer string) (int64, map[string]string, error) {
	id, err := p.identity(ctx)
	if err != nil {
		return 0, nil, err
	}
	c := p.clientFor(id)
	tok, err := c.GenerateToken(ctx, code, referrer)
	if err != nil {
		return 0, nil, err
	}
	me, err := c.LoginMe(ctx, tok.AccessToken)
	if err != nil {
		return 0, nil, err
	}
	profile := make(map[string]string, len(me.Fields))
	for name, v := range me.Fields {
		plain, err := Decrypt(id.Key, id.AAD, v)
		if err != nil {
			// A wrong key or AAD in our secret is the usual cause: a configuration fault of ours.
			return 0, nil, fmt.Errorf("login-me field %q: %w: %w", name, apperr.ErrNotConfigured, err)
		}
		profile[name] = plain
	}
	return me.UserKey, profile, nil
}

// VerifyHash asks Toss whether hash is a real user's (contract §3, off unless configured).
func (p *Partner) VerifyHash(ctx context.Context, hash string) (bool, error) {
	id, err := p.identity(ctx)
	if err != nil {
		return false, err
	}
	return p.clientFor(id).VerifyHash(ctx, hash)
}
