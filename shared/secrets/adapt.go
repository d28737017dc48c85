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

// Identity hands the link secret to the Toss client as its mTLS identity and decryption key.
func Identity(c *Cache[Link]) toss.IdentitySource {
	return func(ctx context.Context) (toss.Identity, error) {
		s, err := c.Get(ctx)
		return toss.Identity{Certificate: s.Certificate, Fingerprint: s.Fingerprint, Key: s.Key, AAD: s.AAD}, err
	}
}

// BasicAuth hands the unlink secret's Basic Auth value to the callback.
func BasicAuth(c *Cache[Unlink]) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		s, err := c.Get(ctx)
		return s.BasicAuth, err
	}
}
