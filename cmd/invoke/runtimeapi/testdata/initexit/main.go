// Command initexit is a test fixture that fails its init before reaching
// lambda.Start: log.Fatal (exit status 1), or a panic (exit status 2) when
// INIT_MODE=panic. aws-lambda-go posts nothing to /runtime/init/error in
// that case; the process just exits.
package main

import (
	"log"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	if os.Getenv("INIT_MODE") == "panic" {
		panic("initexit: init panic")
	}
	log.Fatal("initexit: cannot load configuration")
	lambda.Start(func() (string, error) { return "unreachable", nil })
}
