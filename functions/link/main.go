// Command link is the Lambda function behind POST /api/auth/migration/link.
package main

import (
	"github.com/tossgame/migration-server/shared/app"
	"github.com/tossgame/migration-server/shared/app/linking"
)

func main() { app.Main(true, linking.BuildLink) }
