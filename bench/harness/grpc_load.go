// Open-loop gRPC load at a fixed offered rate (issue 8): the Go twin of grpc_load.py's child,
// on grpc-go, which spends a small fraction of the CPU per call that Python's grpc.aio does,
// leaving the shared 2 cores to the server under test.
//
// Same contract as grpc_load.py: request i is due at start + i/rate whether or not earlier
// ones have answered (open loop); latency counts from the moment a call was *due*, so a
// generator that falls behind is charged for it (no coordinated omission); at most
// maxInFlight calls in flight, the rest counted as missed; the request is sent as
// pre-serialized bytes and the answer is not decoded. The caller's token comes from
// BENCH_TOKEN (never argv). Prints one JSON object:
// {latencies_ms, failed, missed, elapsed, offered, cpu_s}.
//
// With -callers N (issue 24's workers measure) it runs a closed loop instead: N callers, each
// sending its next call when the last one answered, round-robin over -connections separate
// connections (SO_REUSEPORT shares connections between workers, not calls), for -duration
// seconds; "offered" is then the number of calls made.
//
// Built by grpc_load.py from Debian's packages alone (golang-go, golang-google-grpc-dev):
// GO111MODULE=off GOPATH=/usr/share/gocode go build.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const maxInFlight = 20000

// rawCodec sends and receives message bytes as they are.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	*(v.(*[]byte)) = data
	return nil
}
func (rawCodec) Name() string { return "raw" }

// statusNames are grpc.StatusCode's names, as the Python generator reports them.
var statusNames = []string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

func statusName(err error) string {
	code := int(status.Code(err))
	if code < len(statusNames) {
		return statusNames[code]
	}
	return fmt.Sprintf("CODE_%d", code)
}

func cpuSeconds() float64 {
	var usage syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &usage)
	return float64(usage.Utime.Sec+usage.Stime.Sec) + float64(usage.Utime.Usec+usage.Stime.Usec)/1e6
}

func main() {
	target := flag.String("target", "", "host:port")
	method := flag.String("method", "", "/package.Service/Method")
	requestB64 := flag.String("request-b64", "", "the serialized request, base64")
	rate := flag.Float64("rate", 0, "calls per second")
	duration := flag.Float64("duration", 0, "seconds")
	timeout := flag.Float64("timeout", 5, "per-call deadline, seconds")
	callers := flag.Int("callers", 0, "closed loop: this many callers (0: open loop at -rate)")
	connections := flag.Int("connections", 1, "closed loop: connections the callers share")
	flag.Parse()
	request, err := base64.StdEncoding.DecodeString(*requestB64)
	if err != nil || *target == "" || *method == "" || (*rate <= 0 && *callers <= 0) || *connections < 1 {
		fmt.Fprintln(os.Stderr, "usage: grpc_load --target H:P --method /S/M --request-b64 B --rate R --duration D")
		os.Exit(2)
	}
	conns := make([]*grpc.ClientConn, *connections)
	for i := range conns {
		ready, cancelReady := context.WithTimeout(context.Background(), 10*time.Second)
		conns[i], err = grpc.DialContext(ready, *target, grpc.WithInsecure(), grpc.WithBlock(),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
		cancelReady()
		if err != nil {
			fmt.Fprintf(os.Stderr, "gRPC load generator: %s not ready: %v\n", *target, err)
			os.Exit(2)
		}
	}
	conn := conns[0]
	base := context.Background()
	if token := os.Getenv("BENCH_TOKEN"); token != "" {
		base = metadata.AppendToOutgoingContext(base, "authorization", "Bearer "+token)
	}
	callTimeout := time.Duration(*timeout * float64(time.Second))
	if *callers > 0 {
		closedLoop(conns, base, *method, request, *callers, *duration, callTimeout)
		return
	}
	total := int(*rate * *duration)
	var (
		mu        sync.Mutex
		latencies = make([]float64, 0, total)
		failed    = map[string]int{}
		inFlight  int64
		missed    int
		calls     sync.WaitGroup
	)
	one := func(due time.Time) {
		defer calls.Done()
		defer atomic.AddInt64(&inFlight, -1)
		ctx, cancel := context.WithTimeout(base, callTimeout)
		var reply []byte
		err := conn.Invoke(ctx, *method, &request, &reply)
		cancel()
		latency := time.Since(due)
		mu.Lock()
		if err != nil {
			failed[statusName(err)]++
		} else {
			latencies = append(latencies, math.Round(float64(latency.Nanoseconds())/1e3)/1e3)
		}
		mu.Unlock()
	}
	interval := float64(time.Second) / *rate
	start := time.Now().Add(50 * time.Millisecond)
	for sent := 0; sent < total; {
		dueCount := int(float64(time.Since(start))/interval) + 1
		if dueCount > total {
			dueCount = total
		}
		for ; sent < dueCount; sent++ {
			due := start.Add(time.Duration(float64(sent) * interval))
			if atomic.LoadInt64(&inFlight) >= maxInFlight {
				missed++
				continue
			}
			atomic.AddInt64(&inFlight, 1)
			calls.Add(1)
			go one(due)
		}
		if sent < total {
			time.Sleep(time.Until(start.Add(time.Duration(float64(sent) * interval))))
		}
	}
	calls.Wait() // every call ends by its deadline
	elapsed := time.Since(start).Seconds()
	mu.Lock()
	defer mu.Unlock()
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"latencies_ms": latencies, "failed": failed, "missed": missed, "elapsed": elapsed,
		"offered": total, "cpu_s": cpuSeconds(),
	})
}

// closedLoop: each caller sends its next call when the last one answered, until the
// deadline; latency is each call's own (there is no schedule to fall behind).
func closedLoop(conns []*grpc.ClientConn, base context.Context, method string, request []byte,
	callers int, duration float64, callTimeout time.Duration) {
	var (
		mu        sync.Mutex
		latencies []float64
		failed    = map[string]int{}
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(time.Duration(duration * float64(time.Second)))
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func(conn *grpc.ClientConn) {
			defer wg.Done()
			own := make([]float64, 0, 4096)
			ownFailed := map[string]int{}
			for time.Now().Before(deadline) {
				began := time.Now()
				ctx, cancel := context.WithTimeout(base, callTimeout)
				var reply []byte
				err := conn.Invoke(ctx, method, &request, &reply)
				cancel()
				if err != nil {
					ownFailed[statusName(err)]++
					if ownFailed[statusName(err)] > 50 { // the run is broken, not slow
						break
					}
					continue
				}
				own = append(own, math.Round(float64(time.Since(began).Nanoseconds())/1e3)/1e3)
			}
			mu.Lock()
			latencies = append(latencies, own...)
			for k, v := range ownFailed {
				failed[k] += v
			}
			mu.Unlock()
		}(conns[c%len(conns)])
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	json.NewEncoder(os.Stdout).Encode(map[string]interface{}{
		"latencies_ms": latencies, "failed": failed, "missed": 0, "elapsed": elapsed,
		"offered": len(latencies), "cpu_s": cpuSeconds(),
	})
}
