package servertest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// Module is a module of the working tree at the version it is served as.
type Module struct {
	Path    string // the module path, as its go.mod says
	Version string // a semantic version
	Dir     string // the directory of its go.mod
}

// Core and Adapter are the module paths of the core library and of the
// Temporal adapter.
const (
	Core    = "github.com/shepherd-go/shepherd"
	Adapter = Core + "/temporal"
)

// TreeModules returns the core and the adapter of the repository at root,
// each at the version the next module down requires it at: the core at
// the version the adapter's go.mod requires, the adapter at the version
// this module's go.mod (root/temporal/internal/servertest) requires. Those
// are the versions of the next release, which no public proxy has yet.
func TreeModules(root string) ([]Module, error) {
	core, err := required(filepath.Join(root, "temporal", "go.mod"), Core)
	if err != nil {
		return nil, err
	}
	adapter, err := required(filepath.Join(root, "temporal", "internal", "servertest", "go.mod"), Adapter)
	if err != nil {
		return nil, err
	}
	return []Module{
		{Path: Core, Version: core, Dir: root},
		{Path: Adapter, Version: adapter, Dir: filepath.Join(root, "temporal")},
	}, nil
}

// required returns the version of mod that the go.mod file at name
// requires.
func required(name, mod string) (string, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return "", err
	}
	f, err := modfile.ParseLax(name, data, nil)
	if err != nil {
		return "", err
	}
	for _, r := range f.Require {
		if r.Mod.Path == mod {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("servertest: %s requires no version of %s", name, mod)
}

// WriteProxy writes a file-system module proxy in dir that serves mods
// from their directories, in the layout of the module proxy protocol
// (GOPROXY=file://dir): for each module, @v/list, and the version's .info,
// .mod and .zip. The zips follow the rules of module zips (no nested
// module, no VCS directory, size limits), as golang.org/x/mod/zip makes
// them, so that what the go command extracts from them is what a release
// tagged at the working tree would hold.
func WriteProxy(dir string, mods ...Module) error {
	var errs []error
	for _, m := range mods {
		if err := writeModule(dir, m); err != nil {
			errs = append(errs, fmt.Errorf("servertest: serving %s@%s: %w", m.Path, m.Version, err))
		}
	}
	return errors.Join(errs...)
}

func writeModule(dir string, m Module) error {
	mv := module.Version{Path: m.Path, Version: m.Version}
	if err := module.Check(m.Path, m.Version); err != nil {
		return err
	}
	epath, err := module.EscapePath(m.Path)
	if err != nil {
		return err
	}
	ever, err := module.EscapeVersion(m.Version)
	if err != nil {
		return err
	}
	at := filepath.Join(dir, filepath.FromSlash(epath), "@v")
	if err := os.MkdirAll(at, 0o755); err != nil {
		return err
	}
	gomod, err := os.ReadFile(filepath.Join(m.Dir, "go.mod"))
	if err != nil {
		return err
	}
	info, err := json.Marshal(struct{ Version string }{m.Version})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"list":         []byte(m.Version + "\n"),
		ever + ".mod":  gomod,
		ever + ".info": info,
	} {
		if err := os.WriteFile(filepath.Join(at, name), data, 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(at, ever+".zip"))
	if err != nil {
		return err
	}
	files, err := treeFiles(m.Dir)
	if err == nil {
		err = zip.Create(f, mv, files)
	}
	if err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// treeFiles lists the files under dir for a module zip: every regular file
// but those of VCS metadata. A git worktree's .git is a file, which
// zip.CreateFromDir would keep; nested modules and vendor directories are
// left out by zip.Create.
func treeFiles(dir string) ([]zip.File, error) {
	var files []zip.File
	err := filepath.WalkDir(dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch d.Name() {
		case ".git", ".hg", ".svn", ".bzr":
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(dir, name)
		if err != nil {
			return err
		}
		files = append(files, dirFile{path: filepath.ToSlash(rel), name: name})
		return nil
	})
	return files, err
}

// dirFile is a file of the working tree as zip.Create takes it.
type dirFile struct {
	path string // slash-separated, relative to the module's directory
	name string // on disk
}

func (f dirFile) Path() string                 { return f.path }
func (f dirFile) Lstat() (fs.FileInfo, error)  { return os.Lstat(f.name) }
func (f dirFile) Open() (io.ReadCloser, error) { return os.Open(f.name) }
