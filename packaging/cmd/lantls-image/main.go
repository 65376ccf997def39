// Command lantls-image builds the issuer's container image without a
// container daemon (github.com/google/go-containerregistry): FROM scratch,
// one layer with the static lantls binary, the CA certificates (for the
// upstream signer's public CA), a passwd entry for the non-root user
// lantls (65532) and its two volumes, /var/lib/lantls (the data dir) and
// /var/lib/lantls-root-key (where the first start writes the new root
// key, outside the data dir, for you to move off the host). Settings are
// LANTLS_* variables; a HEALTHCHECK runs 'lantls health'.
//
// It writes a tarball that 'docker load' and 'podman load' read. The
// bytes depend only on the inputs and SOURCE_DATE_EPOCH.
//
// Usage: lantls-image --binary FILE --version V --out FILE [--arch amd64]
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// The image's user and paths.
const (
	UID     = 65532
	DataDir = "/var/lib/lantls"
	KeyDir  = "/var/lib/lantls-root-key"
	Binary  = "/usr/bin/lantls"
)

func main() {
	fs := flag.NewFlagSet("lantls-image", flag.ContinueOnError)
	var o Options
	fs.StringVar(&o.Binary, "binary", "", "the static linux `lantls` binary (CGO_ENABLED=0)")
	fs.StringVar(&o.Version, "version", "dev", "the `version` for the tag and the label")
	fs.StringVar(&o.Arch, "arch", "amd64", "the binary's GOARCH")
	fs.StringVar(&o.CACerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM `file` of the public roots to include")
	out := fs.String("out", "", "write the image tarball to this `file`")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if o.Binary == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "lantls-image: --binary and --out are required; see --help")
		os.Exit(2)
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			fmt.Fprintf(os.Stderr, "lantls-image: SOURCE_DATE_EPOCH %q is not a number of seconds\n", s)
			os.Exit(2)
		}
		o.Created = time.Unix(sec, 0).UTC()
	}
	img, err := Build(o)
	if err == nil {
		err = tarball.WriteToFile(*out, Tag(o.Version), img)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "lantls-image: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("  image %s (%s; docker load -i %s)\n", *out, Tag(o.Version), *out)
}

// Options say what goes into the image.
type Options struct {
	Binary  string
	Version string
	Arch    string
	CACerts string
	Created time.Time // the image's and the files' date; zero is 1970
}

// Tag is the image's name: lantls, tagged with version where a tag may
// not hold a character of it (Debian's ~ and +) replaced by -.
func Tag(version string) name.Tag {
	v := strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return '-'
	}, version)
	t, err := name.NewTag("lantls:" + v)
	if err != nil {
		return name.MustParseReference("lantls:dev").(name.Tag)
	}
	return t
}

// Build builds the image.
func Build(o Options) (v1.Image, error) {
	bin, err := os.ReadFile(o.Binary)
	if err != nil {
		return nil, err
	}
	certs, err := os.ReadFile(o.CACerts)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	layerTar, err := rootfs(o.Created, bin, certs)
	if err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", o.Arch
	cf.Created = v1.Time{Time: o.Created}
	cf.Author = "lantls"
	user := strconv.Itoa(UID)
	cf.Config = v1.Config{
		Entrypoint: []string{Binary},
		Cmd:        []string{"issuer"},
		User:       user + ":" + user,
		WorkingDir: DataDir,
		Env: []string{
			"LANTLS_DATA=" + DataDir,
			"LANTLS_ROOT_KEY_OUT=" + KeyDir + "/root.key",
			"LANTLS_LISTEN=:8443",
			"LANTLS_HTTP_LISTEN=:8080",
			"LANTLS_DNS_LISTEN=:8053",
			"LANTLS_LOG_FORMAT=json",
		},
		ExposedPorts: map[string]struct{}{"8443/tcp": {}, "8080/tcp": {}, "8053/tcp": {}, "8053/udp": {}},
		Volumes:      map[string]struct{}{DataDir: {}, KeyDir: {}},
		Healthcheck: &v1.HealthConfig{
			Test:        []string{"CMD", Binary, "health"},
			Interval:    30 * time.Second,
			Timeout:     10 * time.Second,
			StartPeriod: time.Minute,
			Retries:     3,
		},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "lantls issuer",
			"org.opencontainers.image.version": o.Version,
			"org.opencontainers.image.source":  "https://github.com/lantls/lantls",
		},
		StopSignal: "SIGTERM",
	}
	return mutate.ConfigFile(img, cf)
}

// rootfs is the layer: the binary, the roots, passwd and group, and the
// volumes' directories owned by the user.
func rootfs(mtime time.Time, bin, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(path string, mode int64, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: path + "/", Mode: mode, Uid: uid, Gid: uid, ModTime: mtime, Format: tar.FormatPAX})
	}
	file := func(path string, mode int64, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: path, Mode: mode, Size: int64(len(b)), ModTime: mtime, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	u := strconv.Itoa(UID)
	for _, step := range []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error {
			return file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nlantls:x:"+u+":"+u+":lantls issuer:"+DataDir+":/sbin/nologin\n"))
		},
		func() error { return file("etc/group", 0o644, []byte("root:x:0:\nlantls:x:"+u+":\n")) },
		func() error { return dir("etc/ssl", 0o755, 0) },
		func() error { return dir("etc/ssl/certs", 0o755, 0) },
		func() error { return file("etc/ssl/certs/ca-certificates.crt", 0o644, certs) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("usr", 0o755, 0) },
		func() error { return dir("usr/bin", 0o755, 0) },
		func() error { return file(strings.TrimPrefix(Binary, "/"), 0o755, bin) },
		func() error { return dir("var", 0o755, 0) },
		func() error { return dir("var/lib", 0o755, 0) },
		func() error { return dir(strings.TrimPrefix(DataDir, "/"), 0o700, UID) },
		func() error { return dir(strings.TrimPrefix(KeyDir, "/"), 0o700, UID) },
	} {
		if err := step(); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
