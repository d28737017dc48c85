// Command unlink is the Lambda function behind Toss's unlink callback (GET and POST
// /api/auth/toss/unlink).
package main

import "github.com/tossgame/migration-server/shared/app"

func main() { app.Main(true, app.BuildUnlink) }
