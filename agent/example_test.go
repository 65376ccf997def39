package agent_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/lantls/lantls/agent"
	"github.com/lantls/lantls/issuer"
)

// A device's own Go server uses the agent's TLSConfig: the agent pairs,
// gets the certificate and keeps it renewed; the server always hands out
// the current one. Here an issuer runs in-process and its owner approves
// the code at once, as a person would in the issuer's web UI.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, _ := os.MkdirTemp("", "agent-example-")
	defer os.RemoveAll(dir)
	iss, err := issuer.New(ctx, issuer.Config{DataDir: filepath.Join(dir, "issuer"), Zone: "lan.test", Listen: "127.0.0.1:0", HTTPListen: "127.0.0.1:0", Signer: "local"})
	if err != nil {
		log.Fatal(err)
	}
	issDone := make(chan error, 1)
	go func() { issDone <- iss.Run(ctx) }()
	defer func() { cancel(); <-issDone }()
	owner, _ := iss.Store().EnsureOwner(ctx, "alice")
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(iss.RootPEM())

	// The device side, as the package doc shows it: the pairing code and
	// any failure go to the default logger (stderr), where a person sees
	// them.
	a, err := agent.New(agent.Config{
		Issuer:  iss.Info().BaseURL,
		Roots:   roots, // the issuer's root; nil trusts the system's
		Storage: agent.DirStorage(filepath.Join(dir, "device")),
		Model:   "Example TV",
	})
	if err != nil {
		log.Fatal(err)
	}
	agentDone := make(chan error, 1)
	go func() { agentDone <- a.Run(ctx) }()
	defer func() { cancel(); <-agentDone }()

	// The owner's click in the issuer's web UI, on the code the device
	// shows.
	for a.Pending() == nil {
		select {
		case err := <-agentDone:
			log.Fatal(err) // what retrying cannot fix, e.g. ErrUntrustedIssuer
		case <-time.After(10 * time.Millisecond):
		}
	}
	p := a.Pending()
	fmt.Println("the device shows a code and its key fingerprint:", len(p.UserCode) == len("WDJB-MJHT"), p.Fingerprint != "")
	iss.Pairing().Approve(ctx, p.UserCode, owner.ID, "example")
	<-a.Ready()

	ln, _ := tls.Listen("tcp", "127.0.0.1:0", a.TLSConfig())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello from the device")
	})}
	go srv.Serve(ln)
	defer srv.Close()

	// A browser on the LAN, trusting the issuer's root.
	name := "127-0-0-1." + a.Certificate().Leaf.DNSNames[0]
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, ln.Addr().String())
		},
	}}
	resp, err := client.Get("https://" + name + "/")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.Status, string(body))
	// Output:
	// the device shows a code and its key fingerprint: true true
	// 200 OK hello from the device
}
