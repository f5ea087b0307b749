// Command baseline is the physical limit the benchmark harness measures
// waitingroom against: a minimal net/http server that answers every request
// with the same bytes (status, headers, body) read from a file, with no
// logic at all. It runs as its own process, so it is loaded exactly the way
// waitingroom is.
//
//	baseline --addr 127.0.0.1:9999 --response response.json
//
// The response file is JSON: {"status": 503, "header": {"Name": ["v"]},
// "body": "<base64>"}, as the harness writes it from a captured answer.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"
)

type response struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	file := flag.String("response", "", "JSON file with the response to send")
	flag.Parse()
	if err := run(*addr, *file); err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
}

func run(addr, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var resp response
	if err := json.Unmarshal(b, &resp); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if resp.Status == 0 {
		resp.Status = http.StatusOK
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		for k, v := range resp.Header {
			h[k] = v
		}
		w.WriteHeader(resp.Status)
		_, _ = w.Write(resp.Body)
	})
	// The same server limits waitingroom's public listener sets; they cost
	// nothing per request but keep the comparison fair.
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	return srv.Serve(ln)
}
