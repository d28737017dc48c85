// Command status is the Lambda function behind POST /api/auth/migration/status. It never reads
// the secret.
package main

import "github.com/tossgame/migration-server/shared/app"

func main() { app.Main(false, app.BuildStatus) }
