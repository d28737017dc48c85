// Command link is the Lambda function behind POST /api/auth/migration/link.
package main

import (
	"context"
	"os"

	"github.com/tossgame/migration-server/shared/awsenv"
	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/lambdarun"
	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
	"github.com/tossgame/migration-server/shared/toss"
)

func main() {
	log := lambdarun.Logger()
	cfg, err := config.FromEnv(os.Getenv, config.TableAndSecret)
	lambdarun.Check(err)
	aws, err := awsenv.Load(context.Background())
	lambdarun.Check(err)

	// Nothing is fetched at init: the secret is read on the first link and cached for SecretTTL.
	secret := secrets.NewCache(secrets.NewClient(aws), cfg.SecretID, cfg.SecretTTL, secrets.ParseLink, log)
	secret.OnFetch = func(ctx context.Context, f secrets.Fetch) { metrics.SecretFetchOutcome(ctx, "link", f.Outcome) }
	partner := toss.NewPartner(cfg.TossBaseURL, cfg.TossRoots, secrets.Identity(secret))
	partner.Observe = func(ctx context.Context, c toss.Call) { metrics.TossCallClassed(ctx, c.Name, c.Duration, c.Class) }
	svc := &migration.Service{
		Store:           store.New(awsenv.DynamoDB(aws), cfg.Table),
		Toss:            partner,
		Keep:            cfg.Keep,
		VerifyHash:      cfg.VerifyHash,
		AllowSandbox:    cfg.AllowSandbox,
		RemoveTossLogin: cfg.RemoveTossLogin,
		OnRemoveAccess:  metrics.TossLoginRemoval,
		Log:             log,
	}
	lambdarun.Start(httpapi.Link(svc, httpapi.Options{Log: log, Namespace: cfg.MetricsNamespace}))
}
