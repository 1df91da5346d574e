package flow

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/convoflow/convoflow/services/flow/canvas"
	"github.com/convoflow/convoflow/services/flow/engine"
)

// RenderFlow is `flowservice render-flow FILE`: it draws the Studio
// definition in FILE ("-" reads stdin) as SVG on stdout, as the console
// draws it, without a server, for docs and code review.
func RenderFlow(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("render-flow", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: flowservice render-flow FILE > flow.svg\n\nDraws the Studio flow definition in FILE (- for stdin) as SVG, as the console's canvas does.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errors.New("render-flow takes one FILE")
	}
	name := fs.Arg(0)
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, engine.MaxDefinitionBytes+1))
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return fmt.Errorf("render-flow: %w", err)
	}
	def, err := engine.Parse(data)
	if err != nil {
		return fmt.Errorf("render-flow: %s: %w", name, err)
	}
	return canvas.Render(stdout, def, canvas.Options{})
}
