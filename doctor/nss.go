package doctor

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// maxNSSCerts bounds how many certificates of one NSS database the doctor
// reads: user-added roots are few (the built-in ones are not listed).
const maxNSSCerts = 200

// nssDBs returns the NSS databases of the user: Chromium's (and other
// NSS programs') ~/.pki/nssdb and each Firefox profile's.
func nssDBs() []string {
	home, err := os.UserHomeDir()
	if err != nil {
		return nil
	}
	var dbs []string
	for _, pattern := range []string{
		filepath.Join(home, ".pki", "nssdb", "cert9.db"),
		filepath.Join(home, ".mozilla", "firefox", "*", "cert9.db"),
		filepath.Join(home, "snap", "firefox", "common", ".mozilla", "firefox", "*", "cert9.db"),
	} {
		m, _ := filepath.Glob(pattern)
		for _, f := range m {
			dbs = append(dbs, filepath.Dir(f))
		}
	}
	return dbs
}

// checkNSS verifies the chain against the roots each NSS database trusts
// for TLS servers: Chromium and Firefox on Linux trust those, not the
// system store.
func (d *doctor) checkNSS(ctx context.Context, prefix string, chain []*x509.Certificate, now time.Time) Check {
	c := Check{Name: prefix + "trust-nss"}
	dbs := d.cfg.NSSDBs
	if dbs == nil {
		dbs = nssDBs()
	}
	if len(dbs) == 0 {
		c.Status, c.Detail = Skip, "no NSS database here (Chromium's ~/.pki/nssdb, Firefox profiles)"
		return c
	}
	if _, err := exec.LookPath("certutil"); err != nil {
		c.Status, c.Detail = Skip, "certutil is not installed (Debian and Ubuntu: apt install libnss3-tools), so the NSS databases cannot be read: "+strings.Join(dbs, ", ")
		return c
	}
	var trusted, missing []string
	for _, db := range dbs {
		roots, err := nssRoots(ctx, db)
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", db, err))
			continue
		}
		if verify(chain, roots, verifyTime(chain[0], now)) == nil {
			trusted = append(trusted, db)
		} else {
			missing = append(missing, db)
		}
	}
	if len(missing) == 0 {
		c.Status, c.Detail = OK, "trusted in "+strings.Join(trusted, ", ")
		return c
	}
	c.Status = Fail
	c.Detail = "the root is not trusted in " + strings.Join(missing, ", ") + " (Chromium and Firefox on Linux read these, not the system store)"
	c.Fix = d.trustFix()
	return c
}

// nssRoots returns the certificates db trusts as CAs for TLS servers (trust
// flag C in the SSL column).
func nssRoots(ctx context.Context, db string) (*x509.CertPool, error) {
	out, err := exec.CommandContext(ctx, "certutil", "-L", "-d", "sql:"+db).Output()
	if err != nil {
		return nil, fmt.Errorf("certutil -L: %w", err)
	}
	pool := x509.NewCertPool()
	for i, nick := range trustedNicknames(out) {
		if i == maxNSSCerts {
			break
		}
		pemOut, err := exec.CommandContext(ctx, "certutil", "-L", "-d", "sql:"+db, "-n", nick, "-a").Output()
		if err != nil {
			continue
		}
		for {
			var b *pem.Block
			b, pemOut = pem.Decode(pemOut)
			if b == nil {
				break
			}
			if cert, err := x509.ParseCertificate(b.Bytes); err == nil {
				pool.AddCert(cert)
			}
		}
	}
	return pool, nil
}

// trustedNicknames parses `certutil -L`: a header, then one line per
// certificate, its nickname (which may hold spaces) and then its trust
// flags "SSL,S/MIME,JAR/XPI".
func trustedNicknames(out []byte) []string {
	var nicks []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	header := true
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		if header {
			header = !strings.Contains(line, "SSL,S/MIME,JAR/XPI")
			continue
		}
		i := strings.LastIndexAny(line, " \t")
		if i < 0 {
			continue
		}
		nick, flags := strings.TrimSpace(line[:i]), line[i+1:]
		ssl, _, _ := strings.Cut(flags, ",")
		if nick != "" && strings.Contains(ssl, "C") {
			nicks = append(nicks, nick)
		}
	}
	return nicks
}
