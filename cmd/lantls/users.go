package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lantls/lantls/store"
	"github.com/lantls/lantls/users"
)

// runUser runs 'lantls admin user ...'.
func (a *admin) runUser(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return usagef("'user' needs a command: add, list or passwd; run 'lantls admin --help'")
	}
	switch args[0] {
	case "add":
		return a.userAdd(ctx, args[1:])
	case "list":
		return a.userList(ctx, args[1:])
	case "passwd":
		return a.userPasswd(ctx, args[1:])
	}
	return usagef("unknown user command %q: use add, list or passwd", args[0])
}

func (a *admin) userAdd(ctx context.Context, args []string) error {
	fs := a.subFlags("user add", "lantls admin user add NAME [--admin] [--password-file FILE]")
	isAdmin := fs.Bool("admin", false, "the user sees and manages every owner's devices")
	pwFile := fs.String("password-file", "", "read the password from the first line of `file` instead of prompting")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one user NAME, e.g. 'lantls admin user add alice'")
	}
	name := pos[0]
	if err := users.CheckName(name); err != nil {
		return usagef("%v", err)
	}
	password, err := a.password(*pwFile, "Password for "+name)
	if err != nil {
		return err
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	role := store.RoleOwner
	if *isAdmin {
		role = store.RoleAdmin
	}
	u, err := users.Add(ctx, st, name, role, password)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "added %s %q; it logs in to the issuer's web UI and manages the devices of owner %q\n", u.Role, u.Name, u.Name)
	return nil
}

func (a *admin) userList(ctx context.Context, args []string) error {
	fs := a.subFlags("user list", "lantls admin user list")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs); err != nil {
		return err
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	us, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tOWNER\tPASSKEYS\tCREATED")
	for _, u := range us {
		o, err := st.GetOwner(ctx, u.OwnerID)
		if err != nil {
			return fmt.Errorf("list users: owner of %s: %w", u.Name, err)
		}
		pks, err := st.ListPasskeys(ctx, u.ID)
		if err != nil {
			return err
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", u.Name, u.Role, o.Name, len(pks), u.CreatedAt.Format(time.DateTime))
	}
	tw.Flush()
	if len(us) == 0 {
		fmt.Fprintln(a.stdout, "(no users yet: add one with 'lantls admin user add NAME --admin')")
	}
	return nil
}

func (a *admin) userPasswd(ctx context.Context, args []string) error {
	fs := a.subFlags("user passwd", "lantls admin user passwd NAME [--password-file FILE]")
	pwFile := fs.String("password-file", "", "read the new password from the first line of `file` instead of prompting")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want exactly one user NAME (see 'lantls admin user list')")
	}
	name := pos[0]
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.GetUserByName(ctx, name); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user named %q (see 'lantls admin user list')", name)
	}
	password, err := a.password(*pwFile, "New password for "+name)
	if err != nil {
		return err
	}
	if err := users.SetPassword(ctx, st, name, password); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "password of %q changed; its sessions are logged out\n", name)
	return nil
}

// parseMixed parses args whose flags may come before or after the
// positional arguments, and returns the positional ones.
func parseMixed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := parse(fs, args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// password reads a new password from the first line of file, or prompts
// for it twice on the terminal without echo.
func (a *admin) password(file, prompt string) (string, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", fmt.Errorf("read --password-file: %w", err)
		}
		defer f.Close()
		pw, err := firstLine(f)
		if err != nil {
			return "", fmt.Errorf("read --password-file %s: %w", file, err)
		}
		return pw, users.CheckPasswordStrength(pw)
	}
	pw, tty, err := readSecret(a.stderr, prompt+": ")
	if err != nil {
		return "", err
	}
	if err := users.CheckPasswordStrength(pw); err != nil || !tty {
		return pw, err
	}
	again, _, err := readSecret(a.stderr, "Again: ")
	if err != nil {
		return "", err
	}
	if again != pw {
		return "", errors.New("the passwords differ; run the command again")
	}
	return pw, nil
}

// firstLine returns the first line of r without its line ending.
func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, 4096)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}
