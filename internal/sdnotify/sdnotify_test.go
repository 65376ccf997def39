package sdnotify

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

func TestNotify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify")
	for _, socket := range []string{path, "@lantls-sdnotify-test-" + filepath.Base(t.TempDir())} {
		t.Run(socket, func(t *testing.T) {
			name := socket
			if name[0] == '@' {
				name = "\x00" + name[1:]
			}
			ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			if err := Notify(socket, Ready+"\nSTATUS=serving"); err != nil {
				t.Fatal(err)
			}
			ln.SetReadDeadline(time.Now().Add(5 * time.Second))
			b := make([]byte, 256)
			n, err := ln.Read(b)
			if err != nil || string(b[:n]) != "READY=1\nSTATUS=serving" {
				t.Errorf("read %q, %v", b[:n], err)
			}
		})
	}
}

func TestNotifyNoSocket(t *testing.T) {
	if err := Notify("", Ready); err != nil {
		t.Errorf("Notify without a socket: %v", err)
	}
	if err := Notify(filepath.Join(t.TempDir(), "missing"), Ready); err == nil {
		t.Error("Notify to a missing socket succeeded")
	}
}
