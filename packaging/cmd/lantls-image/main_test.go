package main

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/lantls/lantls/internal/testwait"
)

// TestImage builds the image from a fresh static lantls, reads the
// tarball back as `docker load` would, checks its configuration, then
// unpacks its file system and runs its entrypoint there as its user (a
// chroot, no container daemon) until the image's own health check
// passes.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "lantls")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin, "github.com/lantls/lantls/cmd/lantls")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	certs := filepath.Join(dir, "certs.pem")
	os.WriteFile(certs, []byte("# no roots in the test\n"), 0o644)
	o := Options{Binary: bin, Version: "1.2.3~git20261207.abc+dirty", Arch: "amd64", CACerts: certs, Created: time.Unix(1765000000, 0).UTC()}
	img, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "image.tar")
	if err := tarball.WriteToFile(out, Tag(o.Version), img); err != nil {
		t.Fatal(err)
	}
	tag := Tag(o.Version)
	if tag.String() != "lantls:1.2.3-git20261207.abc-dirty" {
		t.Errorf("tag %s", tag)
	}
	loaded, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Build(o)
	d1, _ := loaded.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Errorf("two builds differ: %s and %s", d1, d2)
	}
	cf, err := loaded.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.User != "65532:65532" || !reflect.DeepEqual(c.Entrypoint, []string{"/usr/bin/lantls"}) || !reflect.DeepEqual(c.Cmd, []string{"issuer"}) {
		t.Errorf("user %q entrypoint %q cmd %q", c.User, c.Entrypoint, c.Cmd)
	}
	if _, ok := c.Volumes["/var/lib/lantls"]; !ok || c.Healthcheck == nil || !reflect.DeepEqual(c.Healthcheck.Test, []string{"CMD", "/usr/bin/lantls", "health"}) {
		t.Errorf("volumes %v healthcheck %+v", c.Volumes, c.Healthcheck)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Time.Equal(o.Created) {
		t.Errorf("os %s arch %s created %v", cf.OS, cf.Architecture, cf.Created)
	}
	if layers, _ := loaded.Layers(); len(layers) != 1 {
		t.Errorf("%d layers, want 1 (FROM scratch)", len(layers))
	}

	if os.Geteuid() != 0 {
		t.Skip("running the image's file system needs root (chroot, owners)")
	}
	rootfs := filepath.Join(dir, "rootfs")
	unpack(t, mutate.Extract(loaded), rootfs)
	if fi, err := os.Stat(filepath.Join(rootfs, "var/lib/lantls")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != UID || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data volume: %v %v", fi, err)
	}
	// The image's environment, with loopback ports for the test.
	env := append(append([]string(nil), c.Env...), "LANTLS_LISTEN=127.0.0.1:0", "LANTLS_HTTP_LISTEN=127.0.0.1:0", "LANTLS_DNS_LISTEN=127.0.0.1:0", "LANTLS_LOG_FORMAT=text")
	run := func(args ...string) *exec.Cmd {
		cmd := exec.Command("chroot", append([]string{"--userspec=65532:65532", rootfs}, args...)...)
		cmd.Env = env
		cmd.Dir = "/"
		return cmd
	}
	issuer := run(append(c.Entrypoint, c.Cmd...)...)
	var logs testwait.Buffer
	issuer.Stdout, issuer.Stderr = &logs, &logs
	if err := issuer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		issuer.Process.Signal(syscall.SIGTERM)
		issuer.Wait()
	}()
	var health []byte
	if !testwait.Until(2*time.Minute, func() bool {
		health, err = run(c.Healthcheck.Test[1:]...).CombinedOutput()
		return err == nil
	}) {
		t.Fatalf("health check never passed: %v\n%s\nissuer:\n%s", err, health, logs.String())
	}
	if !strings.Contains(string(health), "healthy: https://127.0.0.1:") {
		t.Errorf("health: %s", health)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "var/lib/lantls-root-key/root.key")); err != nil {
		t.Errorf("the new root key is not in its volume: %v\n%s", err, logs.String())
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "var/lib/lantls/lantls.db")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != UID {
		t.Errorf("database not written by the image's user: %v", err)
	}
}

// unpack writes a flattened image's tar stream to dir, with owners.
func unpack(t *testing.T, rc io.ReadCloser, dir string) {
	t.Helper()
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			err = os.MkdirAll(p, 0o755)
		case tar.TypeReg:
			var f *os.File
			if f, err = os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600); err == nil {
				_, err = io.Copy(f, tr)
				f.Close()
			}
		default:
			t.Fatalf("unexpected entry %s (type %c)", h.Name, h.Typeflag)
		}
		if err == nil {
			err = os.Chown(p, h.Uid, h.Gid)
		}
		if err == nil {
			err = os.Chmod(p, os.FileMode(h.Mode)&os.ModePerm|modeBits(h.Mode))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func modeBits(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}
