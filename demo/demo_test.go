package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestRunCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, Options{Check: true, Out: &out, DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, &out)
	}
	for _, want := range []string{"[1/5] issuer", "[2/5] pairing", "the device shows: open https://", "[3/5] approved", "[5/5] device page", "demo check passed", "rejected as it should be"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}

func TestRunUpstreamCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, Options{Check: true, Upstream: true, Out: &out, DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, &out)
	}
	for _, want := range []string{"[2/6] upstream CA", "Pebble at https://", "[6/6] device page", "demo check passed",
		`issued by "Pebble Intermediate`, "trusted  only Pebble's root"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}

func TestRunAttestCheck(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, Options{Check: true, Attest: true, Out: &out, DataDir: t.TempDir()}); err != nil {
		t.Fatalf("Run: %v\noutput:\n%s", err, &out)
	}
	for _, want := range []string{"[5/6] attested", "packed statement for permanent-identifier DEMO-0001", "NOT FOR PRODUCTION", "[6/6] device page", "demo check passed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, &out)
		}
	}
}
