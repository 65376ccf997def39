package main

import (
	"bufio"
	"context"
	"encoding/base64"
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
	const cmds = "add, list, passwd, disable, enable, delete or passkeys"
	if len(args) == 0 {
		return usagef("'user' needs a command: %s; run 'lantls admin --help'", cmds)
	}
	switch args[0] {
	case "add":
		return a.userAdd(ctx, args[1:])
	case "list":
		return a.userList(ctx, args[1:])
	case "passwd":
		return a.userPasswd(ctx, args[1:])
	case "disable":
		return a.userDisable(ctx, args[1:], true)
	case "enable":
		return a.userDisable(ctx, args[1:], false)
	case "delete":
		return a.userDelete(ctx, args[1:])
	case "passkeys":
		if len(args) > 1 && args[1] == "list" {
			return a.passkeysList(ctx, args[2:])
		}
		if len(args) > 1 && args[1] == "remove" {
			return a.passkeysRemove(ctx, args[2:])
		}
		return usagef("'user passkeys' needs a command: list NAME, or remove NAME ID|--all")
	}
	return usagef("unknown user command %q: use %s", args[0], cmds)
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
	fmt.Fprintln(tw, "NAME\tROLE\tOWNER\tPASSKEYS\tCREATED\tSTATE")
	for _, u := range us {
		o, err := st.GetOwner(ctx, u.OwnerID)
		if err != nil {
			return fmt.Errorf("list users: owner of %s: %w", u.Name, err)
		}
		pks, err := st.ListPasskeys(ctx, u.ID)
		if err != nil {
			return err
		}
		state := "enabled"
		if users.Disabled(u) {
			state = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", u.Name, u.Role, o.Name, len(pks), u.CreatedAt.Format(time.DateTime), state)
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
	fmt.Fprintf(a.stdout, "password of %q changed; its sessions are logged out and its passkeys removed\n", name)
	return nil
}

// oneUser parses the flags of a command that takes one user NAME and
// opens the store.
func (a *admin) oneUser(ctx context.Context, fs *flag.FlagSet, args []string) (store.Store, string, error) {
	pos, err := parseMixed(fs, args)
	if err != nil {
		return nil, "", err
	}
	if len(pos) != 1 {
		return nil, "", usagef("want exactly one user NAME (see 'lantls admin user list')")
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return nil, "", err
	}
	return st, pos[0], nil
}

func (a *admin) userDisable(ctx context.Context, args []string, disable bool) error {
	verb := map[bool]string{true: "disable", false: "enable"}[disable]
	fs := a.subFlags("user "+verb, "lantls admin user "+verb+" NAME")
	st, name, err := a.oneUser(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if disable {
		if err := lastAdmin(ctx, st, name); err != nil {
			return err
		}
	}
	changed, err := users.SetDisabled(ctx, st, name, disable)
	switch {
	case err != nil:
		return fmt.Errorf("%w (see 'lantls admin user list')", err)
	case !changed:
		fmt.Fprintf(a.stdout, "%q is %sd already\n", name, verb)
	case disable:
		fmt.Fprintf(a.stdout, "disabled %q: its sessions are logged out, and neither its password nor its passkeys log in until 'lantls admin user enable %s'\n", name, name)
	default:
		fmt.Fprintf(a.stdout, "enabled %q: its password and passkeys log in again\n", name)
	}
	return nil
}

func (a *admin) userDelete(ctx context.Context, args []string) error {
	fs := a.subFlags("user delete", "lantls admin user delete NAME")
	st, name, err := a.oneUser(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := lastAdmin(ctx, st, name); err != nil {
		return err
	}
	if err := users.Delete(ctx, st, name); err != nil {
		return fmt.Errorf("%w (see 'lantls admin user list')", err)
	}
	fmt.Fprintf(a.stdout, "deleted user %q with its sessions and passkeys; the devices of owner %q stay\n", name, name)
	return nil
}

// lastAdmin refuses to disable or delete name if it is the only admin who
// can still log in: nobody could then manage every owner's devices.
func lastAdmin(ctx context.Context, st store.Store, name string) error {
	us, err := st.ListUsers(ctx)
	if err != nil {
		return err
	}
	others, isAdmin := 0, false
	for _, u := range us {
		if u.Role != store.RoleAdmin || users.Disabled(u) {
			continue
		}
		if u.Name == name {
			isAdmin = true
		} else {
			others++
		}
	}
	if isAdmin && others == 0 {
		return fmt.Errorf("%q is the only admin who can log in: add another first ('lantls admin user add NAME --admin')", name)
	}
	return nil
}

func (a *admin) passkeysList(ctx context.Context, args []string) error {
	fs := a.subFlags("user passkeys list", "lantls admin user passkeys list NAME")
	st, name, err := a.oneUser(ctx, fs, args)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.GetUserByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user named %q (see 'lantls admin user list')", name)
	} else if err != nil {
		return err
	}
	keys, err := st.ListPasskeys(ctx, u.ID)
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		fmt.Fprintf(a.stdout, "%q has no passkeys\n", name)
		return nil
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tADDED\tLAST USED")
	for _, k := range keys {
		used := "never"
		if !k.LastUsedAt.IsZero() {
			used = k.LastUsedAt.Format(time.DateTime)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", base64.RawURLEncoding.EncodeToString(k.ID), k.Name, k.CreatedAt.Format(time.DateTime), used)
	}
	return tw.Flush()
}

func (a *admin) passkeysRemove(ctx context.Context, args []string) error {
	fs := a.subFlags("user passkeys remove", "lantls admin user passkeys remove NAME ID|--all")
	all := fs.Bool("all", false, "remove every passkey of the user")
	pos, err := parseMixed(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 2 && !(len(pos) == 1 && *all) {
		return usagef("want a user NAME and a passkey ID (see 'lantls admin user passkeys list NAME'), or NAME --all")
	}
	st, _, err := a.open(ctx, "")
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.GetUserByName(ctx, pos[0])
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no user named %q (see 'lantls admin user list')", pos[0])
	} else if err != nil {
		return err
	}
	keys, err := st.ListPasskeys(ctx, u.ID)
	if err != nil {
		return err
	}
	removed := 0
	for _, k := range keys {
		if *all || base64.RawURLEncoding.EncodeToString(k.ID) == pos[1] {
			if err := st.DeletePasskey(ctx, u.ID, k.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
				return err
			}
			removed++
		}
	}
	if removed == 0 && !*all {
		return fmt.Errorf("%q has no passkey %s (see 'lantls admin user passkeys list %s')", u.Name, pos[1], u.Name)
	}
	fmt.Fprintf(a.stdout, "removed %d passkey(s) of %q\n", removed, u.Name)
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
