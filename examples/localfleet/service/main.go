// Command service is the small HTTP service the localfleet example deploys:
// one process per target, started with the version it runs and how that
// version behaves.
//
//	service -addr 127.0.0.1:8080 -target eu-west-1a-1 -version v3 -error-rate 0.4 -latency 250ms
//
// It answers:
//
//	GET /         the service's work: after -latency, 500 for a share
//	              -error-rate of requests (every n-th, exactly), 200 otherwise
//	GET /version  the version it runs
//	GET /healthz  200 once it serves
//
// It stops on SIGTERM or SIGINT, and also when its standard input reaches
// end of file with -exit-on-eof: its parent holds the other end of a pipe,
// so that the service never outlives the program that started it, however
// that program ends.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	target := flag.String("target", "", "the target's ID, for the logs")
	version := flag.String("version", "", "the version this process runs")
	errorRate := flag.Float64("error-rate", 0, "share of requests answered with 500")
	latency := flag.Duration("latency", 0, "time each request takes")
	exitOnEOF := flag.Bool("exit-on-eof", false, "exit when standard input is closed")
	flag.Parse()
	if *version == "" {
		log.Fatal("service: -version is required")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *exitOnEOF {
		go func() {
			io.Copy(io.Discard, os.Stdin)
			stop()
		}()
	}
	var n atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(*latency):
		case <-r.Context().Done():
			return
		}
		// Fail exactly a share of requests: request i fails when the
		// running count of failures due crosses a whole number.
		i := n.Add(1)
		if int64(float64(i)**errorRate) > int64(float64(i-1)**errorRate) {
			http.Error(w, "internal error", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "hello from %s, version %s\n", *target, *version)
	})
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, *version)
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		log.Fatalf("service %s: %v", *target, err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Printf("service %s: shutdown: %v", *target, err)
	}
}
