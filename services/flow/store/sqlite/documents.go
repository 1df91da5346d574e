package sqlite

import (
	"database/sql"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/klauspost/compress/s2"
)

// JSON documents (execution state and context, step contexts, event
// payloads, definitions, …) are most of what the store keeps: a parked
// send-and-wait is an execution row, a step and an event of roughly 2.5 kB
// of JSON, nearly all of it the same keys and SIDs prefixes in every row.
// So a document of minDocumentSize bytes or more is stored as a BLOB: one
// format byte, then an S2 block compressed against a fixed dictionary of
// those keys. That keeps a context to about a quarter of its size for
// about a microsecond each way (BenchmarkDocuments), where a general
// compressor without a dictionary halves it at ten times the cost.
// Documents below the threshold, documents the block would not shrink, and
// every row written before this format stay TEXT and read as they are.
//
// Formats are forever: rows written with a dictionary must decode as long
// as such a row can exist, so a better dictionary is a new format byte
// (documentFormatS2Dict2, …) next to this one, never an edit of
// documents_dictionary_1.txt (TestDocumentDictionaryIsFrozen).

const (
	// documentFormatS2Dict1 marks an S2 block compressed with dictionary 1.
	// No JSON text starts with this byte.
	documentFormatS2Dict1 = 0x01
	// minDocumentSize is the smallest document worth compressing: below
	// it the saving is a few bytes and the column stays readable.
	minDocumentSize = 128
)

//go:embed documents_dictionary_1.txt
var documentDictionary1 []byte

// documentDict1 is dictionary 1; its repeat offset starts at the opening
// of a context document, the most common start of a block.
var documentDict1 = s2.MakeDict(documentDictionary1, []byte(`{"trigger":{"conversation":{`))

// errBadDocument reports a BLOB that is not a document this store wrote.
var errBadDocument = errors.New("sqlite: stored document is corrupt or of an unknown format")

// jsonArg is how a document is stored: NULL when absent, a compressed BLOB
// when that is smaller, else TEXT.
func jsonArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	if len(raw) >= minDocumentSize {
		dst := make([]byte, 1, 1+s2.MaxEncodedLen(len(raw)))
		dst[0] = documentFormatS2Dict1
		if enc := documentDict1.Encode(dst[1:cap(dst)], raw); enc != nil && 1+len(enc) < len(raw) {
			return dst[:1+len(enc)]
		}
	}
	return string(raw)
}

// transientArg is how a short-lived document is stored: NULL when absent,
// else TEXT, never compressed. An event's payload is read once by its
// worker and cleared when the event is done, and a send record is deleted
// when its attempt commits: compressing them spent about a quarter of S2's
// share of the throughput benchmark's CPU to save space for milliseconds.
// jsonCol reads either form, so nothing else changes.
func transientArg(raw json.RawMessage) any {
	if len(raw) == 0 {
		return nil
	}
	return string(raw)
}

// jsonCol scans a nullable document column, whichever way jsonArg stored
// it.
type jsonCol struct{ raw *json.RawMessage }

func (c jsonCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.raw = nil
	case string:
		*c.raw = json.RawMessage(v)
	case []byte:
		raw, err := decodeDocument(v)
		if err != nil {
			return err
		}
		*c.raw = raw
	default:
		var s sql.NullString
		if err := s.Scan(v); err != nil {
			return err
		}
		*c.raw = json.RawMessage(s.String)
	}
	return nil
}

// decodeDocument returns the JSON a BLOB holds, in memory of its own (the
// driver may reuse b).
func decodeDocument(b []byte) (json.RawMessage, error) {
	if len(b) == 0 || b[0] != documentFormatS2Dict1 {
		// A BLOB this store did not compress: JSON stored as bytes.
		if json.Valid(b) {
			return append(json.RawMessage(nil), b...), nil
		}
		return nil, errBadDocument
	}
	n, err := s2.DecodedLen(b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadDocument, err)
	}
	raw, err := documentDict1.Decode(make([]byte, n), b[1:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadDocument, err)
	}
	return raw, nil
}
