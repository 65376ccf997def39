package browser

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lantls/lantls/internal/browsertest"
	"github.com/lantls/lantls/issuer"
)

// lab is the local issuer's world, shared by the tests that need no
// device of their own: three paired devices behind their agents and one
// Chromium whose profile trusts only the issuer's root.
//
//   - app serves a web app (the "home dashboard"); Chromium treats its
//     address as public (--ip-address-space-overrides), as it would a
//     vendor's site on the internet;
//   - tv's owner granted app's origin; nas's owner granted nothing. Both
//     are in the local address space, as LAN devices are.
type lab struct {
	*env
	browser      *browsertest.Browser
	app, tv, nas *device
}

var (
	localOnce sync.Once
	localEnv  *env
	localLab  *lab
	localErr  error
)

// local returns the shared lab, starting it on first use.
func local(t *testing.T) *lab {
	t.Helper()
	browsertest.Require(t)
	localOnce.Do(func() {
		localEnv, localLab, localErr = startLab()
	})
	if localErr != nil {
		t.Fatalf("start the local lab: %v", localErr)
	}
	return localLab
}

func startLab() (*env, *lab, error) {
	dir, err := os.MkdirTemp("", "lantls-browser-")
	if err != nil {
		return nil, nil, err
	}
	e := &env{dir: dir}
	l := &lab{env: e}
	if err := e.startIssuer(issuer.Config{}); err != nil {
		return e, nil, err
	}
	if l.app, err = e.startDevice(deviceOptions{Model: "Home dashboard", App: webApp()}); err != nil {
		return e, nil, fmt.Errorf("app device: %w", err)
	}
	e.closers = append(e.closers, l.app.close)
	if l.tv, err = e.startDevice(deviceOptions{Model: "Living-room TV", App: deviceApp("Living-room TV"), Grants: []string{l.app.origin}}); err != nil {
		return e, nil, fmt.Errorf("tv device: %w", err)
	}
	e.closers = append(e.closers, l.tv.close)
	if l.nas, err = e.startDevice(deviceOptions{Model: "Attic NAS", App: deviceApp("Attic NAS")}); err != nil {
		return e, nil, fmt.Errorf("nas device: %w", err)
	}
	e.closers = append(e.closers, l.nas.close)
	overrides := fmt.Sprintf("%s=public,%s=local,%s=local", l.app.addr, l.tv.addr, l.nas.addr)
	l.browser, err = browsertest.Launch(filepath.Join(dir, "chromium"), browsertest.Options{
		RootPEM:           e.rootPEM,
		HostResolverRules: "MAP *." + zone + " 127.0.0.1",
		Width:             1000, Height: 520,
		Flags: map[string]any{"ip-address-space-overrides": overrides},
	})
	if err != nil {
		return e, nil, err
	}
	e.closers = append(e.closers, l.browser.Close)
	return e, l, nil
}
