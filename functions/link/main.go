// Command link is the Lambda function behind POST /api/auth/migration/link.
package main

import "github.com/tossgame/migration-server/shared/app"

func main() { app.Main(true, app.BuildLink) }
