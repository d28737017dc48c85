package secrets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/apperr"
)

// Source fetches a secret's current value; *secretsmanager.Client is one.
type Source interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

var _ Source = (*secretsmanager.Client)(nil)

// ErrGone is a secret Secrets Manager will not hand out any more: deleted, scheduled for
// deletion, access denied, or its KMS key unusable. It is a configuration fault (503), and the
// cached value stops serving: a deleted secret must not keep authorising callbacks.
var ErrGone = fmt.Errorf("secret is gone or not readable: %w", apperr.ErrNotConfigured)

// Outcomes of a fetch, as Fetch.Outcome reports them.
const (
	FetchOK        = "ok"
	FetchTransient = "transient" // throttled, 5xx, timeout, network: the last good value serves
	FetchGone      = "gone"      // see ErrGone
	FetchMalformed = "malformed" // the value does not parse: the last good value serves
)

// Fetch is one call to Secrets Manager, for metrics.
type Fetch struct {
	Outcome  string // FetchOK, FetchTransient, FetchGone or FetchMalformed
	Forced   bool   // asked for by Refresh (an auth failure), not by the TTL
	Duration time.Duration
}

// Timings of the cache.
const (
	// DefaultForceInterval is the least time between two forced refreshes (Refresh) of one
	// cache: a flood of wrong credentials costs at most one GetSecretValue per interval, and a
	// rotated value is picked up within it.
	DefaultForceInterval = 5 * time.Second
	// retryAfter is how long a failed refresh waits before the next attempt, while the last
	// good value serves.
	retryAfter = 10 * time.Second
	// refreshTimeout bounds a refresh while a good value is held (a fetch takes tens of ms).
	refreshTimeout = time.Second
	// coldTimeout bounds a first fetch whose caller has no deadline.
	coldTimeout = 5 * time.Second
)

// Cache holds one parsed secret for TTL. It is safe for concurrent use, and never holds its
// lock across the network: while one refresh runs, every other caller gets the cached value at
// once, and concurrent misses share one fetch.
type Cache[T any] struct {
	src   Source
	id    string
	ttl   time.Duration
	parse func([]byte) (T, error)
	log   *slog.Logger
	now   func() time.Time

	// OnFetch, when set, hears of every fetch (metrics). Set it before the first Get.
	OnFetch func(context.Context, Fetch)
	// ForceInterval overrides DefaultForceInterval. Set it before the first Get.
	ForceInterval time.Duration

	mu         sync.Mutex
	val        T
	have       bool
	fetched    time.Time // when val was fetched
	retryAt    time.Time // a failed refresh is not retried before this
	failed     error     // a permanent failure without a value, remembered until failedTill
	failedTill time.Time
	lastForced time.Time
	flight     *flight[T]
}

// flight is one fetch in progress; done is closed when val and err are final.
type flight[T any] struct {
	done chan struct{}
	val  T
	err  error
}

// NewCache returns a cache of secret id, parsed with parse (ParseLink or ParseUnlink).
func NewCache[T any](src Source, id string, ttl time.Duration, parse func([]byte) (T, error), log *slog.Logger) *Cache[T] {
	if log == nil {
		log = slog.Default()
	}
	return &Cache[T]{src: src, id: id, ttl: ttl, parse: parse, log: log, now: time.Now}
}

// Get returns the cached value, fetching it when it is missing or older than the TTL. A stale
// value is refreshed by one caller while the others keep getting it. When a refresh fails for a
// moment, the last good value keeps serving; when the secret is gone, Get fails (ErrGone).
func (c *Cache[T]) Get(ctx context.Context) (T, error) {
	c.mu.Lock()
	now := c.now()
	if c.have && (now.Sub(c.fetched) < c.ttl || now.Before(c.retryAt) || c.flight != nil) {
		v := c.val
		c.mu.Unlock()
		return v, nil
	}
	if !c.have && c.failed != nil && now.Before(c.failedTill) {
		err := c.failed
		c.mu.Unlock()
		return *new(T), err
	}
	f := c.flight
	if f == nil {
		f = c.start(ctx, false)
	}
	v, have := c.val, c.have
	c.mu.Unlock()
	return c.wait(ctx, f, v, have)
}

// Refresh is Get with a fresh copy, for a caller that has reason to think the secret changed
// (the callback got a credential matching no accepted value). It fetches at most once per
// ForceInterval; more often, it joins a fetch in progress or returns the cached value.
func (c *Cache[T]) Refresh(ctx context.Context) (T, error) {
	c.mu.Lock()
	f := c.flight
	if f == nil {
		now := c.now()
		if !c.lastForced.IsZero() && now.Sub(c.lastForced) < c.forceInterval() {
			v, have, failed := c.val, c.have, c.failed
			c.mu.Unlock()
			if !have && failed != nil {
				return v, failed
			}
			if !have {
				return c.Get(ctx)
			}
			return v, nil
		}
		c.lastForced = now
		f = c.start(ctx, true)
	}
	v, have := c.val, c.have
	c.mu.Unlock()
	return c.wait(ctx, f, v, have)
}

func (c *Cache[T]) forceInterval() time.Duration {
	if c.ForceInterval > 0 {
		return c.ForceInterval
	}
	return DefaultForceInterval
}

// start launches a fetch; c.mu is held. The fetch runs on its own goroutine with a context of
// its own (the caller's values, not its cancellation), so that a caller giving up does not fail
// the others waiting for the same fetch.
func (c *Cache[T]) start(ctx context.Context, forced bool) *flight[T] {
	f := &flight[T]{done: make(chan struct{})}
	c.flight = f
	var opts []func(*secretsmanager.Options)
	timeout := coldTimeout
	if c.have {
		// A refresh must not spend the request's time: one attempt, bounded; when it fails,
		// the last good value serves.
		timeout = refreshTimeout
		opts = append(opts, func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
	} else if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = time.Until(dl)
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	go func() {
		defer cancel()
		began := time.Now()
		v, err := c.fetch(fctx, opts...)
		c.finish(fctx, f, v, err, forced, time.Since(began))
	}()
	return f
}

// finish records a fetch's outcome and releases its waiters.
func (c *Cache[T]) finish(ctx context.Context, f *flight[T], v T, err error, forced bool, took time.Duration) {
	outcome := FetchOK
	c.mu.Lock()
	now := c.now()
	switch {
	case err == nil:
		c.val, c.have, c.fetched, c.failed = v, true, now, nil
		f.val = v
	case errors.Is(err, ErrGone):
		outcome = FetchGone
		// Stop honouring what was cached: the operator removed it, or our access to it.
		c.val, c.have = *new(T), false
		c.failed, c.failedTill = err, now.Add(min(c.ttl, retryAfter))
		f.err = err
		c.log.ErrorContext(ctx, "secret is gone or not readable; the cached value no longer serves", "secret", c.id, "error", err)
	default:
		outcome = FetchTransient
		if errors.Is(err, apperr.ErrNotConfigured) {
			outcome = FetchMalformed
		}
		if c.have {
			// Try again after a pause instead of on every request.
			c.retryAt = now.Add(retryAfter)
			f.val = c.val
			c.log.WarnContext(ctx, "secret refresh failed; serving the last good value", "secret", c.id, "error", err)
		} else {
			if outcome == FetchMalformed {
				c.failed, c.failedTill = err, now.Add(min(c.ttl, retryAfter))
			}
			f.err = err
		}
	}
	c.flight = nil
	c.mu.Unlock()
	// Before the waiters go on, so that what they do next is seen after the fetch's report.
	if c.OnFetch != nil {
		c.OnFetch(ctx, Fetch{Outcome: outcome, Forced: forced, Duration: took})
	}
	close(f.done)
}

// wait returns f's outcome, or, when ctx ends first, the value held when the caller came (a
// refresh that outlives its caller's patience must not fail it).
func (c *Cache[T]) wait(ctx context.Context, f *flight[T], held T, have bool) (T, error) {
	select {
	case <-f.done:
		return f.val, f.err
	case <-ctx.Done():
		if have {
			return held, nil
		}
		return held, fmt.Errorf("secrets: get %s: %w: %w", c.id, apperr.ErrUnavailable, ctx.Err())
	}
}

func (c *Cache[T]) fetch(ctx context.Context, opts ...func(*secretsmanager.Options)) (T, error) {
	var zero T
	out, err := c.src.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: &c.id}, opts...)
	if err != nil {
		if gone(err) {
			return zero, fmt.Errorf("secrets: get %s: %w: %w", c.id, ErrGone, err)
		}
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

// goneCodes are the GetSecretValue errors that say the secret itself cannot be had, as opposed
// to a blip (ThrottlingException, InternalServiceError, 5xx, timeouts, network), which may be
// ridden out on the last good value:
//   - ResourceNotFoundException: deleted (force-deleted, or past its recovery window), or a
//     wrong name;
//   - InvalidRequestException: "marked for deletion" (within the recovery window);
//   - AccessDeniedException: the role lost secretsmanager:GetSecretValue, or kms:Decrypt;
//   - DecryptionFailure: the secret's KMS key is disabled, deleted or not usable by us;
//   - InvalidParameterException: a SECRET_ID that cannot name a secret.
var goneCodes = map[string]bool{
	"ResourceNotFoundException": true,
	"InvalidRequestException":   true,
	"AccessDeniedException":     true,
	"DecryptionFailure":         true,
	"InvalidParameterException": true,
}

// gone reports whether err is one of goneCodes. The SDK's modelled errors and its generic API
// error (AccessDeniedException is not modelled) all carry ErrorCode.
func gone(err error) bool {
	var api interface{ ErrorCode() string }
	return errors.As(err, &api) && goneCodes[api.ErrorCode()]
}
