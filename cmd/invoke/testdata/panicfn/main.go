// Command panicfn is the status function with a domain that panics: a real bootstrap, for the
// test that a recovered panic reaches Lambda as an invocation error (what its Errors metric
// counts) and leaves the process serving.
package main

import (
	"context"

	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/lambdarun"
)

type panicky struct{}

func (panicky) Status(_ context.Context, hash string) (bool, error) {
	panic("status of " + hash + ": nil map") // quotes request data, as a careless bug would
}

func main() {
	log := lambdarun.Logger()
	lambdarun.Start(httpapi.Status(panicky{}, httpapi.Options{Log: log}))
}
