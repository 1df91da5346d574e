package sqlite

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/convoflow/convoflow/services/flow/store"
)

// A parked send-and-wait's execution context, as the runner stores it.
const parkedContext = `{"trigger":{"conversation":{"AccountSid":"AC00000000000000000000000000000000","Attributes":"{}","Author":"+15550001111","Body":"order 38","ChannelAttributes":{},"ChannelSid":"CHdc362097afd4104a1af4ee211d5cc110","ConversationSid":"CHdc362097afd4104a1af4ee211d5cc110","DateCreated":"2026-12-07T12:09:00Z","From":"+15550001111","Index":0,"Media":"","MessageSid":"IMdc362097afd4104a1af4ee211d5cc110","MessagingServiceSid":"","ParticipantSid":"","Source":"SMS"}},"flow":{"flow_sid":"FWa8f71cb6a63159295da18e1f65dfa138","sid":"FN2351c741709b86a4eb1f40640f9b1486","channel":{"address":"CHdc362097afd4104a1af4ee211d5cc110"},"data":{},"variables":{}},"contact":{"channel":{"address":"+15550001111"}},"widgets":{"ask":{"outbound":{"Attributes":"{\"convoflow_send_key\":\"FN2351c741709b86a4eb1f40640f9b1486/2@ev1\"}","Author":"system","Body":"What is your order number?","ConversationSid":"CHdc362097afd4104a1af4ee211d5cc110","From":"CHdc362097afd4104a1af4ee211d5cc110","Index":0,"Media":"","ParticipantSid":"","Sid":"IMc3189ce60ca838bfe963aefb3c2a5f16","Status":"sent","To":"+15550001111"}}}}`

func TestDocumentRoundTrip(t *testing.T) {
	long := `{"body":"` + strings.Repeat("é漢 ", 5000) + `"}`
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 600)
	for i := range random {
		random[i] = byte('#' + rnd.IntN(57)) // printable, no '"' or '\\': S2 cannot shrink it
	}
	for _, tc := range []struct {
		name, doc string
		blob      bool // stored compressed
	}{
		{"absent", "", false},
		{"small", `{"a":1}`, false},
		{"just_below", `{"k":"` + strings.Repeat("x", minDocumentSize-9) + `"}`, false},
		{"context", parkedContext, true},
		{"long_unicode", long, true},
		{"incompressible", `"` + string(random) + `"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			arg := jsonArg(json.RawMessage(tc.doc))
			switch v := arg.(type) {
			case nil:
				if tc.doc != "" {
					t.Fatal("stored as NULL")
				}
			case []byte:
				if !tc.blob {
					t.Fatalf("compressed %d bytes to %d, want TEXT", len(tc.doc), len(v))
				}
				if len(v) >= len(tc.doc) {
					t.Errorf("compressed to %d of %d bytes", len(v), len(tc.doc))
				}
			case string:
				if tc.blob {
					t.Fatalf("stored %d bytes as TEXT, want compressed", len(tc.doc))
				}
			}
			var got json.RawMessage
			if err := (jsonCol{&got}).Scan(arg); err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.doc {
				t.Errorf("read back %d bytes, want the %d written", len(got), len(tc.doc))
			}
		})
	}
}

// TestDocumentCompression pins the saving that motivates the format: a
// parked wait's context shrinks to under a third.
func TestDocumentCompression(t *testing.T) {
	blob, ok := jsonArg(json.RawMessage(parkedContext)).([]byte)
	if !ok {
		t.Fatal("context stored as TEXT")
	}
	if 3*len(blob) > len(parkedContext) {
		t.Errorf("context: %d → %d bytes, want under a third", len(parkedContext), len(blob))
	}
}

func TestDocumentCorrupt(t *testing.T) {
	blob := jsonArg(json.RawMessage(parkedContext)).([]byte)
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"truncated", blob[:len(blob)/2]},
		{"unknown_format", append([]byte{0x7f}, blob[1:]...)},
		{"format_only", []byte{documentFormatS2Dict1}},
		{"empty", []byte{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got json.RawMessage
			if err := (jsonCol{&got}).Scan(tc.b); !errors.Is(err, errBadDocument) {
				t.Errorf("Scan = %v, want errBadDocument", err)
			}
		})
	}
	// JSON that reached the column as a BLOB by other means reads as is.
	var got json.RawMessage
	if err := (jsonCol{&got}).Scan([]byte(`{"a":1}`)); err != nil || string(got) != `{"a":1}` {
		t.Errorf("JSON BLOB = %s, %v", got, err)
	}
}

// TestDocumentDictionaryIsFrozen: rows compressed with dictionary 1 exist
// wherever this version ran, so its bytes can never change. A better
// dictionary is a new format (see documents.go).
func TestDocumentDictionaryIsFrozen(t *testing.T) {
	sum := sha256.Sum256(documentDictionary1)
	const want = "36ec283e485a3a8939d921f09a00ed31ac00f262f71b43733ed54499045039b1"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("documents_dictionary_1.txt has sha256 %s, want %s: it must not change", got, want)
	}
	on, err := os.ReadFile(filepath.Join("documents_dictionary_1.txt"))
	if err != nil || !bytes.Equal(on, documentDictionary1) {
		t.Errorf("embedded dictionary differs from the file: %v", err)
	}
}

// TestDocumentsOldTextRows: rows written before documents were compressed
// hold TEXT; they read as they are, and rewriting them compresses them.
func TestDocumentsOldTextRows(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, filepath.Join(t.TempDir(), "flow.db"))
	def := json.RawMessage(`{"description":"old","states":[` + strings.Repeat(`{"name":"w","type":"split-based-on","transitions":[]},`, 5) + `{"name":"Trigger","type":"trigger","transitions":[]}]}`)
	err := s.InTx(ctx, func(tx store.Tx) error {
		if _, err := tx.CreateFlow(ctx, store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusPublished, Definition: def, CreateTime: t0}); err != nil {
			return err
		}
		_, err := tx.CreateExecution(ctx, store.Execution{SID: execSID, FlowSID: flowSID, FlowRevision: 1, ConversationSID: "CH1",
			Status: store.ExecutionStatusActive, Context: json.RawMessage(parkedContext), CreateTime: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	typeOf := func() string {
		var typ string
		if err := s.wc.QueryRowContext(ctx, `SELECT typeof(context) FROM executions WHERE sid = ?`, execSID).Scan(&typ); err != nil {
			t.Fatal(err)
		}
		return typ
	}
	if got := typeOf(); got != "blob" {
		t.Fatalf("new context stored as %s, want blob", got)
	}
	// As a binary of before this format left the row.
	if _, err := s.wc.ExecContext(ctx, `UPDATE executions SET context = ? WHERE sid = ?`, parkedContext, execSID); err != nil {
		t.Fatal(err)
	}
	if got := typeOf(); got != "text" {
		t.Fatalf("old context stored as %s, want text", got)
	}
	e, err := s.GetExecution(ctx, execSID)
	if err != nil {
		t.Fatal(err)
	}
	if string(e.Context) != parkedContext {
		t.Errorf("old TEXT context read back as %.60s…", e.Context)
	}
	if _, err := s.UpdateExecution(ctx, store.ExecutionUpdate{SID: execSID, Version: e.Version, Status: e.Status, State: e.State, Context: e.Context}); err != nil {
		t.Fatal(err)
	}
	if got := typeOf(); got != "blob" {
		t.Errorf("rewritten context stored as %s, want blob", got)
	}
	f, err := s.GetFlow(ctx, flowSID)
	if err != nil {
		t.Fatal(err)
	}
	if string(f.Definition) != string(def) {
		t.Errorf("definition read back as %s", f.Definition)
	}
}

// BenchmarkDocuments is the price of the format: compressing and reading
// back a parked wait's context.
func BenchmarkDocuments(b *testing.B) {
	doc := json.RawMessage(parkedContext)
	b.SetBytes(int64(len(doc)))
	var got json.RawMessage
	for b.Loop() {
		if err := (jsonCol{&got}).Scan(jsonArg(doc)); err != nil {
			b.Fatal(err)
		}
	}
}
