package devenv

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"
)

// Between FreePort and moto_server's bind another process may take the port (on a busy machine,
// say a DynamoDB Local, which answers DynamoDB calls but not Secrets Manager's). Its answers must
// not pass for moto's: the start reports the port taken, and start tries another.
func TestAPortTakenBeforeMotoBindsItIsNotTakenForMoto(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		t.Fatal(MotoHint)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	foreign := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	foreign.Listener.Close()
	foreign.Listener = ln
	foreign.Start()
	defer foreign.Close()

	m := &Moto{}
	defer m.Close()
	err = m.startOn(context.Background(), bin, ln.Addr().(*net.TCPAddr).Port)
	if !errors.Is(err, errPortTaken) {
		t.Fatalf("startOn a port another server holds: %v, want errPortTaken", err)
	}
}
