package toss

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Pair is one mTLS certificate and its key, from the secret.
type Pair struct {
	Name        string          // where it came from ("mtlsCertificates[1]"), for messages
	Certificate tls.Certificate // Leaf must be set
	Fingerprint [32]byte        // SHA-256 of the certificate: the pair's identity
}

// Identity is what Partner needs from the secret: the mTLS pairs and the decryption key.
type Identity struct {
	Pairs []Pair
	Key   []byte
	AAD   string
}

// IdentitySource returns the current identity (from a cached secret).
type IdentitySource func(ctx context.Context) (Identity, error)

// rejectedFor is how long a pair Toss refused at the handshake goes to the back of the queue,
// while another valid pair serves: long enough not to pay a failed handshake per call, short
// enough that a certificate registered in the console late is soon used.
const rejectedFor = 5 * time.Minute

// Partner logs a user in with Toss: code -> token -> login-me -> the profile fields asked for,
// decrypted. At each call it uses, of the secret's pairs valid at that moment, the one with the
// latest NotBefore (the newest); a pair Toss refuses at the handshake yields to the next valid
// one. It keeps one Client per pair, so warm invocations reuse their TLS connections and a
// rotated secret takes effect on the next call.
type Partner struct {
	base     string
	roots    *x509.CertPool
	identity IdentitySource

	// Now judges certificate validity; time.Now when nil.
	Now func() time.Time
	// Observe, when set, hears of every call to Toss (metrics), with the caller's context.
	Observe func(context.Context, Call)
	// Log receives what the caller's error does not carry (a pair skipped); slog.Default when nil.
	Log *slog.Logger

	mu       sync.Mutex
	clients  map[[32]byte]*Client
	rejected map[[32]byte]time.Time // until when a refused pair goes last
}

// NewPartner returns a Partner for the API at baseURL. roots nil means the system roots.
func NewPartner(baseURL string, roots *x509.CertPool, identity IdentitySource) *Partner {
	return &Partner{base: baseURL, roots: roots, identity: identity}
}

func (p *Partner) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// candidates orders the pairs valid at now: not recently refused first, then newest NotBefore,
// then latest NotAfter, then the secret's order.
func (p *Partner) candidates(pairs []Pair, now time.Time) []Pair {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Pair
	for _, pr := range pairs {
		leaf := pr.Certificate.Leaf
		if leaf != nil && !now.Before(leaf.NotBefore) && !now.After(leaf.NotAfter) {
			out = append(out, pr)
		}
	}
	refused := func(pr Pair) bool { return now.Before(p.rejected[pr.Fingerprint]) }
	slices.SortStableFunc(out, func(a, b Pair) int {
		if ra, rb := refused(a), refused(b); ra != rb {
			if ra {
				return 1
			}
			return -1
		}
		if c := b.Certificate.Leaf.NotBefore.Compare(a.Certificate.Leaf.NotBefore); c != 0 {
			return c
		}
		return b.Certificate.Leaf.NotAfter.Compare(a.Certificate.Leaf.NotAfter)
	})
	return out
}

// clientFor returns the pair's client, dropping those of pairs no longer in the secret.
func (p *Partner) clientFor(pr Pair, pairs []Pair) *Client {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients == nil {
		p.clients, p.rejected = map[[32]byte]*Client{}, map[[32]byte]time.Time{}
	}
	for fp, c := range p.clients {
		if !slices.ContainsFunc(pairs, func(x Pair) bool { return x.Fingerprint == fp }) {
			c.CloseIdle()
			delete(p.clients, fp)
			delete(p.rejected, fp)
		}
	}
	c := p.clients[pr.Fingerprint]
	if c == nil {
		c = NewClient(p.base, pr.Certificate, p.roots)
		c.observe = p.Observe
		p.clients[pr.Fingerprint] = c
	}
	return c
}

// with runs one call with the best pair, and with the next valid one if Toss refuses a pair's
// certificate at the handshake (the request never reached Toss, so even a code is unspent).
func (p *Partner) with(ctx context.Context, id Identity, call func(*Client) error) error {
	cands := p.candidates(id.Pairs, p.now())
	if len(cands) == 0 {
		return &NoValidCertificateError{Loaded: len(id.Pairs), At: p.now()}
	}
	var err error
	for i, pr := range cands {
		err = call(p.clientFor(pr, id.Pairs))
		var rejected *CertificateRejectedError
		if !errors.As(err, &rejected) {
			return err
		}
		rejected.Pair = pr.Name
		p.mu.Lock()
		p.rejected[pr.Fingerprint] = p.now().Add(rejectedFor)
		p.mu.Unlock()
		if i+1 < len(cands) {
			p.logger().WarnContext(ctx, "Toss rejected a client certificate; trying the next valid one",
				"pair", pr.Name, "alert", rejected.Alert, "next", cands[i+1].Name)
		}
	}
	return err
}

func (p *Partner) logger() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// Login exchanges code (with referrer forwarded exactly as received), reads the user, and
// decrypts the named profile fields only: data nobody keeps is never opened, so a wrong key or
// AAD cannot fail a link that keeps nothing. It returns the access token too, for RemoveAccess;
// the caller must never log it. Exactly two calls to Toss on success.
func (p *Partner) Login(ctx context.Context, code, referrer string, fields []string) (int64, map[string]string, string, error) {
	id, err := p.identity(ctx)
	if err != nil {
		return 0, nil, "", err
	}
	var tok Token
	if err := p.with(ctx, id, func(c *Client) (err error) { tok, err = c.GenerateToken(ctx, code, referrer); return }); err != nil {
		return 0, nil, "", err
	}
	var me Me
	if err := p.with(ctx, id, func(c *Client) (err error) { me, err = c.LoginMe(ctx, tok.AccessToken); return }); err != nil {
		return 0, nil, "", err
	}
	var profile map[string]string
	for _, name := range fields {
		v, ok := me.Fields[name]
		if !ok {
			continue
		}
		plain, err := Decrypt(id.Key, id.AAD, v)
		if err != nil {
			// A wrong key or AAD in our secret is the usual cause: a configuration fault of ours.
			return 0, nil, "", fmt.Errorf("login-me field %q: %w: %w", name, apperr.ErrNotConfigured, err)
		}
		if profile == nil {
			profile = make(map[string]string, len(fields))
		}
		profile[name] = plain
	}
	return me.UserKey, profile, tok.AccessToken, nil
}

// VerifyHash asks Toss whether hash is a real user's (contract §3, off unless configured).
func (p *Partner) VerifyHash(ctx context.Context, hash string) (bool, error) {
	id, err := p.identity(ctx)
	if err != nil {
		return false, err
	}
	var ok bool
	err = p.with(ctx, id, func(c *Client) (err error) { ok, err = c.VerifyHash(ctx, hash); return })
	return ok, err
}

// RemoveAccess ends the Toss login behind accessToken (contract §7, off unless configured).
func (p *Partner) RemoveAccess(ctx context.Context, accessToken string) error {
	id, err := p.identity(ctx)
	if err != nil {
		return err
	}
	return p.with(ctx, id, func(c *Client) error { return c.RemoveAccess(ctx, accessToken) })
}
