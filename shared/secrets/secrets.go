// Package secrets reads the product's one Secrets Manager secret (JSON), checks the fields a
// function needs, and caches the result per container with a TTL. A refresh that fails keeps the
// last good value, so a Secrets Manager blip does not take a warm function down.
package secrets

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Document is the secret's JSON shape, as README documents it.
type Document struct {
	DecryptionKey   string `json:"decryptionKey"`
	AAD             string `json:"aad"`
	MTLSCertificate string `json:"mtlsCertificate"`
	MTLSPrivateKey  string `json:"mtlsPrivateKey"`
	UnlinkBasicAuth string `json:"unlinkBasicAuth"`
}

// Link is what the link function needs: the field decryption key and AAD, and the mTLS identity.
type Link struct {
	Key         []byte
	AAD         string
	Certificate tls.Certificate
	// Fingerprint identifies the certificate and key, so that a rotated secret gets a new
	// connection pool while an unchanged one keeps its warm connections.
	Fingerprint [32]byte
}

// Unlink is what the unlink callback needs: the Basic Auth value entered in the console.
// An empty value means not configured, and the callback then refuses everything.
type Unlink struct {
	BasicAuth string
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
	if d.MTLSCertificate == "" {
		return l, &FieldError{"mtlsCertificate", "missing"}
	}
	if d.MTLSPrivateKey == "" {
		return l, &FieldError{"mtlsPrivateKey", "missing"}
	}
	cert, err := tls.X509KeyPair([]byte(d.MTLSCertificate), []byte(d.MTLSPrivateKey))
	if err != nil {
		return l, &FieldError{"mtlsCertificate", "certificate and private key are not a matching PEM pair"}
	}
	l.Key, l.AAD, l.Certificate = key, d.AAD, cert
	l.Fingerprint = sha256.Sum256([]byte(d.MTLSCertificate + "\x00" + d.MTLSPrivateKey))
	return l, nil
}

// ParseUnlink checks and converts the field the unlink callback uses.
func ParseUnlink(raw []byte) (Unlink, error) {
	d, err := decode(raw)
	if err != nil {
		return Unlink{}, err
	}
	return Unlink{BasicAuth: d.UnlinkBasicAuth}, nil
}

// Source fetches a secret's current value; *secretsmanager.Client is one.
type Source interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ Source = (*secretsmanager.Client)(nil)

// Cache holds one parsed secret for TTL. It is safe for concurrent use; concurrent misses share
// one fetch.
type Cache[T any] struct {
	src   Source
	id    string
	ttl   time.Duration
	parse func([]byte) (T, error)
	log   *slog.Logger
	now   func() time.Time

	mu      sync.Mutex
	val     T
	have    bool
	fetched time.Time
}

// NewCache returns a cache of secret id, parsed with parse (ParseLink or ParseUnlink).
func NewCache[T any](src Source, id string, ttl time.Duration, parse func([]byte) (T, error), log *slog.Logger) *Cache[T] {
	if log == nil {
		log = slog.Default()
	}
	return &Cache[T]{src: src, id: id, ttl: ttl, parse: parse, log: log, now: time.Now}
}

// Get returns the cached value, fetching it when it is missing or older than the TTL. When a
// refresh fails and a value was had before, it keeps serving that value and logs the failure.
func (c *Cache[T]) Get(ctx context.Context) (T, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.have && c.now().Sub(c.fetched) < c.ttl {
		return c.val, nil
	}
	fetchCtx, opts := ctx, []func(*secretsmanager.Options){}
	if c.have {
		// A refresh must not spend the request's time: one attempt, bounded; when it fails, the
		// last good value serves.
		var cancel context.CancelFunc
		fetchCtx, cancel = context.WithTimeout(ctx, refreshTimeout)
		defer cancel()
		opts = append(opts, func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	}
	v, err := c.fetch(fetchCtx, opts...)
	if err != nil {
		if c.have {
			c.log.WarnContext(ctx, "secret refresh failed; serving the last good value", "secret", c.id, "error", err)
			// Try again after a short pause instead of hammering Secrets Manager on every request.
			c.fetched = c.now().Add(-c.ttl + retryAfter)
			return c.val, nil
		}
		var zero T
		return zero, err
	}
	c.val, c.have, c.fetched = v, true, c.now()
	return v, nil
}

// retryAfter is how long a failed refresh waits before the next attempt.
const retryAfter = 10 * time.Second

// refreshTimeout bounds a refresh while a good value is held (a fetch takes tens of ms).
const refreshTimeout = time.Second

func (c *Cache[T]) fetch(ctx context.Context, opts ...func(*secretsmanager.Options)) (T, error) {
	var zero T
	out, err := c.src.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &c.id}, opts...)
	if err != nil {
		return zero, fmt.Errorf("secrets: get %s: %w: %w", c.id, apperr.ErrUnavailable, err)
	}
	var raw []byte
	switch {
	case out.SecretString != nil:
		raw = []byte(*out.SecretString)
	default:
		raw = out.SecretBinary
	}
	v, err := c.parse(raw)
	if err != nil {
		return zero, fmt.Errorf("secrets: %s: %w: %w", c.id, apperr.ErrNotConfigured, err)
	}
	return v, nil
}
