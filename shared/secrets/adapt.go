package secrets

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/toss"
)

// NewClient builds the Secrets Manager client, honouring AWS_ENDPOINT_URL_SECRETS_MANAGER.
func NewClient(cfg aws.Config) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if ep := os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"); ep != "" {
			o.BaseEndpoint = &ep
		}
	})
}

// Identity hands the link secret to the Toss client as its mTLS pairs and decryption key.
func Identity(c *Cache[Link]) toss.IdentitySource {
	return func(ctx context.Context) (toss.Identity, error) {
		s, err := c.Get(ctx)
		if err != nil {
			return toss.Identity{}, err
		}
		id := toss.Identity{Key: s.Key, AAD: s.AAD, Pairs: make([]toss.Pair, len(s.Pairs))}
		for i, p := range s.Pairs {
			id.Pairs[i] = toss.Pair{Name: p.Field, Certificate: p.Certificate, Fingerprint: p.Fingerprint}
		}
		return id, nil
	}
}

// BasicAuth hands the unlink secret's accepted Basic Auth values to the callback. fresh asks
// for a forced refresh (rate-limited by the cache), after a credential that matched none.
func BasicAuth(c *Cache[Unlink]) func(ctx context.Context, fresh bool) ([]string, error) {
	return func(ctx context.Context, fresh bool) ([]string, error) {
		get := c.Get
		if fresh {
			get = c.Refresh
		}
		s, err := get(ctx)
		return s.Values(), err
	}
}

// Certificates lists the certificates of the link secret as the cache holds it (fetching it if
// need be), for the CertificateDaysLeft metric.
func Certificates(ctx context.Context, c *Cache[Link]) ([]CertificateInfo, error) {
	s, err := c.Get(ctx)
	if err != nil {
		return nil, err
	}
	return s.Certificates(), nil
}
