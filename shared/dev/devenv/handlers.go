package devenv

import (
	"context"
	"log/slog"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/secrets"
	"github.com/tossgame/migration-server/shared/store"
	"github.com/tossgame/migration-server/shared/toss"
)

// Handlers builds each function's handler, by function name, wired as functions/*/main.go wire
// them, for the local server, the tests and the bench. Each call is a cold container of each.
func Handlers(c config.Config, log *slog.Logger, db store.DynamoDB, sm secrets.Source) map[string]httpapi.Handler {
	return map[string]httpapi.Handler{
		"status": Status(c, log, db),
		"link":   Link(c, log, db, sm),
		"unlink": Unlink(c, log, db, sm),
	}
}

// Status is the status function's handler, as its main builds it.
func Status(c config.Config, log *slog.Logger, db store.DynamoDB) httpapi.Handler {
	svc := &migration.Service{Store: store.New(db, c.Table), Log: log}
	return httpapi.Status(svc, httpapi.Options{Log: log, Namespace: c.MetricsNamespace})
}

// Link is the link function's handler, as its main builds it.
func Link(c config.Config, log *slog.Logger, db store.DynamoDB, sm secrets.Source) httpapi.Handler {
	secret := secrets.NewCache(sm, c.SecretID, c.SecretTTL, secrets.ParseLink, log)
	secret.OnFetch = func(ctx context.Context, f secrets.Fetch) { metrics.SecretFetchOutcome(ctx, "link", f.Outcome) }
	partner := toss.NewPartner(c.TossBaseURL, c.TossRoots, secrets.Identity(secret))
	partner.Observe = func(ctx context.Context, c toss.Call) { metrics.TossCallClassed(ctx, c.Name, c.Duration, c.Class) }
	svc := &migration.Service{
		Store:           store.New(db, c.Table),
		Toss:            partner,
		Keep:            c.Keep,
		VerifyHash:      c.VerifyHash,
		AllowSandbox:    c.AllowSandbox,
		RemoveTossLogin: c.RemoveTossLogin,
		OnRemoveAccess:  metrics.TossLoginRemoval,
		Log:             log,
	}
	return httpapi.Link(svc, httpapi.Options{Log: log, Namespace: c.MetricsNamespace})
}

// Unlink is the unlink function's handler, as its main builds it.
func Unlink(c config.Config, log *slog.Logger, db store.DynamoDB, sm secrets.Source) httpapi.Handler {
	secret := secrets.NewCache(sm, c.SecretID, c.SecretTTL, secrets.ParseUnlink, log)
	secret.OnFetch = func(ctx context.Context, f secrets.Fetch) { metrics.SecretFetchOutcome(ctx, "unlink", f.Outcome) }
	svc := &migration.Service{Store: store.New(db, c.Table, store.WithTombstoneTTL(c.TombstoneTTL)), Log: log}
	return httpapi.Unlink(svc, secrets.BasicAuth(secret), httpapi.Options{Log: log, Namespace: c.MetricsNamespace})
}
