package local

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"
)

var oidReasonCode = asn1.ObjectIdentifier{2, 5, 29, 21}

func TestCRL(t *testing.T) {
	c, _ := openCA(t)
	revokedAt := testNow.Add(-time.Hour).Truncate(time.Second)
	entries := []x509.RevocationListEntry{
		{SerialNumber: big.NewInt(0x1001), RevocationTime: revokedAt, ReasonCode: 1},  // keyCompromise
		{SerialNumber: big.NewInt(0x1002), RevocationTime: revokedAt, ReasonCode: 0},  // unspecified
		{SerialNumber: big.NewInt(0x1003), RevocationTime: revokedAt, ReasonCode: 4},  // superseded
		{SerialNumber: big.NewInt(0x1004), RevocationTime: revokedAt, ReasonCode: 5},  // cessationOfOperation
		{SerialNumber: big.NewInt(0x1005), RevocationTime: revokedAt, ReasonCode: 9},  // privilegeWithdrawn
		{SerialNumber: big.NewInt(0x1006), RevocationTime: revokedAt, ReasonCode: 10}, // aACompromise
	}
	der, err := c.CRL(testNow, entries)
	if err != nil {
		t.Fatalf("CRL: %v", err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	if err := crl.CheckSignatureFrom(c.Intermediate()); err != nil {
		t.Errorf("signature does not check against the intermediate: %v", err)
	}
	if err := crl.CheckSignatureFrom(c.Root()); err == nil {
		t.Error("signature checks against the root")
	}
	if !bytes.Equal(crl.RawIssuer, c.Intermediate().RawSubject) {
		t.Error("issuer is not the intermediate")
	}
	if !bytes.Equal(crl.AuthorityKeyId, c.Intermediate().SubjectKeyId) {
		t.Error("authority key identifier is not the intermediate's")
	}
	if !crl.ThisUpdate.Equal(testNow) || !crl.NextUpdate.Equal(testNow.Add(24*time.Hour)) {
		t.Errorf("thisUpdate %v nextUpdate %v, want %v and a day later", crl.ThisUpdate, crl.NextUpdate, testNow)
	}
	if crl.Number == nil || crl.Number.Int64() != testNow.UnixMilli() {
		t.Errorf("CRL number = %v, want %d", crl.Number, testNow.UnixMilli())
	}
	if len(crl.RevokedCertificateEntries) != len(entries) {
		t.Fatalf("CRL has %d entries, want %d", len(crl.RevokedCertificateEntries), len(entries))
	}
	for i, got := range crl.RevokedCertificateEntries {
		want := entries[i]
		if got.SerialNumber.Cmp(want.SerialNumber) != 0 {
			t.Errorf("entry %d: serial %x, want %x", i, got.SerialNumber, want.SerialNumber)
		}
		if !got.RevocationTime.Equal(want.RevocationTime) {
			t.Errorf("entry %d: revoked at %v, want %v", i, got.RevocationTime, want.RevocationTime)
		}
		if got.ReasonCode != want.ReasonCode {
			t.Errorf("entry %d: reason %d, want %d", i, got.ReasonCode, want.ReasonCode)
		}
		hasReason := false
		for _, e := range got.Extensions {
			hasReason = hasReason || e.Id.Equal(oidReasonCode)
		}
		if hasReason != (want.ReasonCode != 0) {
			t.Errorf("entry %d (reason %d): reasonCode extension present = %v", i, want.ReasonCode, hasReason)
		}
	}
}

func TestCRLEmpty(t *testing.T) {
	c, _ := openCA(t)
	der, err := c.CRL(testNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	crl, err := x509.ParseRevocationList(der)
	if err != nil {
		t.Fatal(err)
	}
	if len(crl.RevokedCertificateEntries) != 0 {
		t.Errorf("empty CRL has %d entries", len(crl.RevokedCertificateEntries))
	}
}

func TestCRLNumberIncreases(t *testing.T) {
	c, _ := openCA(t)
	number := func(now time.Time) *big.Int {
		t.Helper()
		der, err := c.CRL(now, nil)
		if err != nil {
			t.Fatal(err)
		}
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			t.Fatal(err)
		}
		return crl.Number
	}
	times := []time.Time{testNow, testNow, testNow.Add(-time.Hour), testNow.Add(time.Millisecond), testNow.Add(time.Second)}
	var last *big.Int
	for i, now := range times {
		n := number(now)
		if last != nil && n.Cmp(last) <= 0 {
			t.Errorf("CRL %d at %v has number %v, not above %v", i, now, n, last)
		}
		last = n
	}
	if want := testNow.Add(time.Second).UnixMilli(); last.Int64() != want {
		t.Errorf("number after a second = %v, want %d", last, want)
	}
}

func TestCRLNumberConcurrent(t *testing.T) {
	c, _ := openCA(t)
	const n = 32
	var mu sync.Mutex
	seen := map[int64]bool{}
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			v := c.nextCRLNumber(testNow)
			mu.Lock()
			defer mu.Unlock()
			if seen[v] {
				t.Errorf("CRL number %d handed out twice", v)
			}
			seen[v] = true
		})
	}
	wg.Wait()
}

func TestCRLRejects(t *testing.T) {
	c, _ := openCA(t)
	tests := []struct {
		name  string
		entry x509.RevocationListEntry
		want  string
	}{
		{"nil serial", x509.RevocationListEntry{RevocationTime: testNow}, "serial"},
		{"zero serial", x509.RevocationListEntry{SerialNumber: big.NewInt(0), RevocationTime: testNow}, "serial"},
		{"negative serial", x509.RevocationListEntry{SerialNumber: big.NewInt(-5), RevocationTime: testNow}, "serial"},
		{"no revocation time", x509.RevocationListEntry{SerialNumber: big.NewInt(1)}, "revocation time"},
		{"reason 7", x509.RevocationListEntry{SerialNumber: big.NewInt(1), RevocationTime: testNow, ReasonCode: 7}, "reason code 7"},
		{"reason 11", x509.RevocationListEntry{SerialNumber: big.NewInt(1), RevocationTime: testNow, ReasonCode: 11}, "reason code 11"},
		{"reason -1", x509.RevocationListEntry{SerialNumber: big.NewInt(1), RevocationTime: testNow, ReasonCode: -1}, "reason code -1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.CRL(testNow, []x509.RevocationListEntry{tt.entry})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "crl: ") {
				t.Errorf("CRL = %v, want an error about %s", err, tt.want)
			}
		})
	}
}
