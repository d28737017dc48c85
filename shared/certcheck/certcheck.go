// Package certcheck is the daily check of the mTLS certificates in the secret: it publishes
// CertificateDaysLeft for each of them (and the least), so that the expiry alarms have a value
// every day whether or not players link, and fails the invocation when the secret cannot be
// read or holds no usable certificate, so that the function's Errors alarm says so.
package certcheck

import (
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/secrets"
)

// Function is the check's name in metrics (the Function dimension of the secret's fetches).
const Function = "certcheck"

// Options configure the check.
type Options struct {
	Log       *slog.Logger
	Namespace string           // metrics.DefaultNamespace when empty
	Now       func() time.Time // time.Now when nil
}

// Handler is the function's handler. It receives EventBridge events (the daily schedule's
// "Scheduled Event", or the stack's own "CloudFormation Stack Status Change" after a deploy) and
// reads nothing from them but their type, for the log.
func Handler(secret func(context.Context) (secrets.Link, error), opt Options) func(context.Context, events.EventBridgeEvent) error {
	log := cmp.Or(opt.Log, slog.Default())
	namespace := cmp.Or(opt.Namespace, metrics.DefaultNamespace)
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	return func(ctx context.Context, ev events.EventBridgeEvent) error {
		ctx, set := metrics.With(ctx)
		trigger := slog.String("trigger", cmp.Or(ev.DetailType, "direct"))
		certs, err := check(ctx, secret)
		if err != nil {
			set.Log(ctx, log, slog.LevelError, "certificate check failed", namespace, nil, trigger, slog.String("error", err.Error()))
			return err
		}
		at := now()
		metrics.CertificateDaysLeft(ctx, at, certs...)
		// What an operator needs to match the metric to the console: public facts only.
		type pair struct {
			Certificate string  `json:"certificate"`
			Subject     string  `json:"subject"`
			NotAfter    string  `json:"notAfter"`
			DaysLeft    float64 `json:"daysLeft"`
		}
		pairs := make([]pair, len(certs))
		for i, c := range certs {
			pairs[i] = pair{metrics.Fingerprint(c), c.Subject.CommonName, c.NotAfter.UTC().Format(time.RFC3339),
				math.Round(c.NotAfter.Sub(at).Hours()/24*100) / 100}
		}
		set.Log(ctx, log, slog.LevelInfo, "certificate check", namespace, nil, trigger, slog.Any("certificates", pairs))
		return nil
	}
}

func check(ctx context.Context, secret func(context.Context) (secrets.Link, error)) ([]*x509.Certificate, error) {
	l, err := secret(ctx)
	if err != nil {
		return nil, err
	}
	return certificates(l)
}

// certificates lists the mTLS certificates the secret holds, one per pair (ParseLink sets each
// Leaf); a secret with none is an error, so that the expiry alarm sees a missing datapoint.
func certificates(l secrets.Link) ([]*x509.Certificate, error) {
	if len(l.Pairs) == 0 {
		return nil, errors.New("certcheck: the secret holds no mTLS pair")
	}
	out := make([]*x509.Certificate, 0, len(l.Pairs))
	for _, p := range l.Pairs {
		leaf := p.Certificate.Leaf
		if leaf == nil {
			if len(p.Certificate.Certificate) == 0 {
				return nil, fmt.Errorf("certcheck: %s has no certificate", p.Field)
			}
			var err error
			if leaf, err = x509.ParseCertificate(p.Certificate.Certificate[0]); err != nil {
				return nil, fmt.Errorf("certcheck: %s: %w", p.Field, err)
			}
		}
		out = append(out, leaf)
	}
	return out, nil
}

// Metered counts each fetch of the secret (SecretRefreshes, SecretRefreshFailures by
// Function) in the invocation's metrics.
func Metered(src secrets.Source, function string) secrets.Source { return metered{src, function} }

type metered struct {
	secrets.Source
	function string
}

func (m metered) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	out, err := m.Source.GetSecretValue(ctx, in, opts...)
	metrics.SecretFetch(ctx, m.function, err)
	return out, err
}
