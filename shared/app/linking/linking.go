// Package linking wires the two functions that hold the partner secret, link and unlink. It is
// apart from package app so that the status function, which never reads the secret, does not
// link (or initialise) the Secrets Manager client: a measurable part of its cold start.
package linking

import (
	"context"
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/app"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
	"github.com/tossgame/migration-server/shared/toss"
)

// NewLink builds the link handler. Nothing is fetched here: the secret is read on the first
// link and cached for SecretTTL.
func NewLink(c app.Config, db store.DynamoDB, sm secrets.Source) httpapi.Handler {
	cache := secrets.NewCache(sm, c.SecretID, c.SecretTTL, secrets.ParseLink, c.Log)
	identity := func(ctx context.Context) (toss.Identity, error) {
		s, err := cache.Get(ctx)
		return toss.Identity{Certificate: s.Certificate, Fingerprint: s.Fingerprint, Key: s.Key, AAD: s.AAD}, err
	}
	svc := &migration.Service{
		Store:      store.New(db, c.Table),
		Toss:       toss.NewPartner(c.TossBaseURL, c.TossRoots, identity),
		Keep:       c.Keep,
		VerifyHash: c.VerifyHash,
		Log:        c.Log,
	}
	return httpapi.Link(svc, c.Options())
}

// NewUnlink builds the unlink callback handler.
func NewUnlink(c app.Config, db store.DynamoDB, sm secrets.Source) httpapi.Handler {
	cache := secrets.NewCache(sm, c.SecretID, c.SecretTTL, secrets.ParseUnlink, c.Log)
	auth := func(ctx context.Context) (string, error) {
		s, err := cache.Get(ctx)
		return s.BasicAuth, err
	}
	svc := &migration.Service{Store: store.New(db, c.Table), Log: c.Log}
	return httpapi.Unlink(svc, auth, c.Options())
}

// SecretsManager builds the Secrets Manager client, honouring AWS_ENDPOINT_URL_SECRETS_MANAGER.
func SecretsManager(cfg aws.Config) *secretsmanager.Client {
	return secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
		if ep := os.Getenv("AWS_ENDPOINT_URL_SECRETS_MANAGER"); ep != "" {
			o.BaseEndpoint = &ep
		}
	})
}

// BuildLink is the link function's Build.
func BuildLink(ctx context.Context, c app.Config) (httpapi.Handler, error) {
	cfg, err := app.LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	return NewLink(c, app.DynamoDB(cfg), SecretsManager(cfg)), nil
}

// BuildUnlink is the unlink function's Build.
func BuildUnlink(ctx context.Context, c app.Config) (httpapi.Handler, error) {
	cfg, err := app.LoadAWS(ctx)
	if err != nil {
		return nil, err
	}
	return NewUnlink(c, app.DynamoDB(cfg), SecretsManager(cfg)), nil
}
