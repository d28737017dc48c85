package devenv

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
)

// Proxy stands between the SDK and moto_server. It does two things:
//
//   - It serialises requests. moto's TransactWriteItems backs up the tables it touches and, when a
//     condition fails, restores that backup, undoing whatever another request committed
//     meanwhile: under concurrency moto loses writes DynamoDB never loses. One request at a time
//     restores the guarantee DynamoDB gives (each call atomic, transactions serialisable), so the
//     concurrency tests test our code, not moto's threading.
//   - It injects faults (unreachable, throttled, slow, cancelled transactions) and counts calls
//     by operation, for the fault tests and the call-count budgets.
//
// In front of DynamoDB Local (NewConcurrentProxy) it only does the second.
type Proxy struct {
	target *url.URL
	rp     *httputil.ReverseProxy
	ln     net.Listener
	srv    *http.Server
	lane   sync.Mutex // one request at a time into moto
	// concurrent: no lane (a server safe under concurrency: DynamoDB Local)
	concurrent bool

	mu     sync.Mutex
	faults map[string]Fault // by operation prefix ("DynamoDB_20120810.GetItem", "secretsmanager.", "")
	times  map[string]int   // by prefix: how many more requests a SetFaultTimes fault strikes
	calls  map[string]int   // by operation
}

// Fault is what the proxy does instead of forwarding.
type Fault int

const (
	FaultNone         Fault = iota
	FaultUnreachable        // the connection is dropped without an answer
	FaultThrottle           // 400 ThrottlingException, as DynamoDB and Secrets Manager throttle
	FaultHang               // no answer until the client gives up (slow past the deadline)
	FaultTxCancelled        // TransactionCanceledException whose reasons are not conditions
	FaultServerError        // 500 InternalServerError
	FaultAccessDenied       // 400 AccessDeniedException, as when the role lost its permission
)

// NewProxy listens on a free loopback port and forwards to target.
func NewProxy(target string) (*Proxy, error) { return newProxy(target, false) }

func newProxy(target string, concurrent bool) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: u, ln: ln, concurrent: concurrent, faults: map[string]Fault{}, times: map[string]int{}, calls: map[string]int{}}
	p.rp = httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{Handler: p}
	go p.srv.Serve(ln)
	return p, nil
}

// NewConcurrentProxy is NewProxy without the lane: faults and counts, every request let through
// at once, for a server whose transactions are safe concurrently.
func NewConcurrentProxy(target string) (*Proxy, error) { return newProxy(target, true) }

// URL is the proxy's endpoint, to give to the SDK.
func (p *Proxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// SetFault makes every operation whose name starts with prefix fail with f ("" = every
// operation; FaultNone clears it).
func (p *Proxy) SetFault(prefix string, f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.times, prefix)
	if f == FaultNone {
		delete(p.faults, prefix)
		return
	}
	p.faults[prefix] = f
}

// SetFaultTimes is SetFault for the next n requests matching prefix only; after them the
// fault clears itself (a transient throttle the SDK's retries should ride out).
func (p *Proxy) SetFaultTimes(prefix string, f Fault, n int) {
	if f == FaultNone || n <= 0 {
		p.SetFault(prefix, FaultNone)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults[prefix], p.times[prefix] = f, n
}

// Calls returns how many requests of each operation arrived (faulted ones included).
func (p *Proxy) Calls() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.calls))
	for k, v := range p.calls {
		out[k] = v
	}
	return out
}

// ResetCalls zeroes the counters.
func (p *Proxy) ResetCalls() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = map[string]int{}
}

func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := operation(r)
	p.mu.Lock()
	p.calls[op]++
	fault, matched := FaultNone, ""
	for prefix, f := range p.faults {
		if strings.HasPrefix(op, prefix) {
			fault, matched = f, prefix
		}
	}
	if n, ok := p.times[matched]; ok && fault != FaultNone {
		if n <= 1 {
			delete(p.times, matched)
			delete(p.faults, matched)
		} else {
			p.times[matched] = n - 1
		}
	}
	p.mu.Unlock()

	switch fault {
	case FaultUnreachable:
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		panic(http.ErrAbortHandler)
	case FaultHang:
		<-r.Context().Done()
		return
	case FaultThrottle:
		awsError(w, http.StatusBadRequest, "ThrottlingException", "Rate of requests exceeds the allowed throughput.", "")
		return
	case FaultServerError:
		awsError(w, http.StatusInternalServerError, "InternalServerError", "Internal server error", "")
		return
	case FaultAccessDenied:
		awsError(w, http.StatusBadRequest, "AccessDeniedException", "User is not authorized to perform this operation (simulated)", "")
		return
	case FaultTxCancelled:
		awsError(w, http.StatusBadRequest, "TransactionCanceledException",
			"Transaction cancelled, please refer cancellation reasons for specific reasons [ThrottlingError, None]",
			`,"CancellationReasons":[{"Code":"ThrottlingError","Message":"Throughput exceeds the current capacity for one or more global secondary indexes."},{"Code":"None"}]`)
		return
	}
	if !p.concurrent {
		p.lane.Lock()
		defer p.lane.Unlock()
	}
	p.rp.ServeHTTP(w, r)
}

// operation names the call: the X-Amz-Target of JSON protocols ("DynamoDB_20120810.GetItem",
// "secretsmanager.GetSecretValue"), or the method and path for anything else.
func operation(r *http.Request) string {
	if t := r.Header.Get("X-Amz-Target"); t != "" {
		return t
	}
	return r.Method + " " + r.URL.Path
}

func awsError(w http.ResponseWriter, status int, typ, msg, extra string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-ErrorType", typ)
	w.WriteHeader(status)
	io.WriteString(w, fmt.Sprintf(`{"__type":"com.amazonaws.dynamodb.v20120810#%s","message":%q%s}`, typ, msg, extra))
}
