// Command status is the Lambda function behind POST /api/auth/migration/status.
package main

import (
	"context"

	"github.com/tossgame/migration-server/shared/app"
	"github.com/tossgame/migration-server/shared/httpapi"
)

func main() {
	app.Main(false, func(ctx context.Context, c app.Config) (httpapi.Handler, error) {
		cfg, err := app.LoadAWS(ctx)
		if err != nil {
			return nil, err
		}
		return app.NewStatus(c, app.DynamoDB(cfg)), nil
	})
}
