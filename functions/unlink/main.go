// Command unlink is the Lambda function behind Toss's unlink callback (GET and POST
// /api/auth/toss/unlink).
package main

import (
	"github.com/tossgame/migration-server/shared/app"
	"github.com/tossgame/migration-server/shared/app/linking"
)

func main() { app.Main(true, linking.BuildUnlink) }
