// Command ddblocal installs DynamoDB Local into the project cache (-install, what make deps
// runs), or runs one until interrupted so that repeated test runs skip the JVM's start:
//
//	go run ./shared/dev/ddblocal/cmd/ddblocal &
//	export DYNAMODB_LOCAL_ENDPOINT=http://127.0.0.1:PORT   # as printed
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/tossgame/migration-server/shared/dev/ddblocal"
)

func main() {
	install := flag.Bool("install", false, "install DynamoDB Local if missing, check java, and exit")
	flag.Parse()
	if err := run(*install); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func run(installOnly bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if installOnly {
		dir, err := ddblocal.Dir()
		if err != nil {
			return err
		}
		home, err := ddblocal.Ensure(ctx, dir)
		if err != nil {
			return err
		}
		if _, err := exec.LookPath("java"); err != nil {
			return errors.New("ddblocal: java not found on PATH. " + ddblocal.JavaHint)
		}
		fmt.Println("DynamoDB Local:", home)
		return nil
	}
	s, err := ddblocal.Start(ctx)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Printf("%s=%s\n", ddblocal.EnvEndpoint, s.Endpoint)
	<-ctx.Done()
	return nil
}
