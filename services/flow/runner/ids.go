package runner

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"

	"github.com/convoflow/convoflow/services/flow/store"
)

// eventExecutionSID derives the SID of the execution an event starts from
// the event's store-wide ID and flow: the same on every replay of that event.
func eventExecutionSID(flowSid string, eventID int64) string {
	sum := sha256.Sum256([]byte("convoflow/runner/event-execution/" + flowSid + "/" + strconv.FormatInt(eventID, 10)))
	return store.PrefixExecution + hex.EncodeToString(sum[:16])
}
