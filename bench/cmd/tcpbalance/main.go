// Command tcpbalance is the load balancer of bench/issue.sh's runs with
// several issuer instances: it accepts TCP connections on one address and
// hands each new one to the next backend in turn, copying bytes both ways.
// TLS goes through untouched, so each instance terminates it, as behind a
// TCP (layer 4) balancer in production.
//
//	tcpbalance --listen 127.0.0.1:PORT BACKEND...
//
// It prints "listening on ADDR" once it accepts, and runs until killed.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`address` to accept connections on")
	flag.Parse()
	backends := flag.Args()
	if len(backends) == 0 {
		fmt.Fprintln(os.Stderr, "tcpbalance: name at least one backend host:port after the flags")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcpbalance: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "tcpbalance: %v\n", err)
			os.Exit(1)
		}
		backend := backends[(next.Add(1)-1)%uint64(len(backends))]
		go proxy(c, backend)
	}
}

// proxy copies c to and from a new connection to backend until both sides
// have closed.
func proxy(c net.Conn, backend string) {
	defer c.Close()
	u, err := net.DialTimeout("tcp", backend, 10*time.Second)
	if err != nil {
		fmt.Fprintf(os.Stderr, "tcpbalance: %v\n", err)
		return
	}
	defer u.Close()
	done := make(chan struct{})
	go func() {
		io.Copy(u, c)
		u.(*net.TCPConn).CloseWrite()
		close(done)
	}()
	io.Copy(c, u)
	c.(*net.TCPConn).CloseWrite()
	<-done
}
