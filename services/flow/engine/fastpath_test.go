package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/convoflow/convoflow/services/flow/engine/liquid"
)

// TestFastRenderMatchesLiquid checks the accelerator against the liquid
// package: wherever fastRender answers, the library must answer the same.
func TestFastRenderMatchesLiquid(t *testing.T) {
	t.Parallel()
	lq := liquid.New(liquid.Options{Location: time.UTC, Now: func() time.Time { return testStart }})
	vars := map[string]any{
		"trigger": map[string]any{"conversation": map[string]any{"Body": "Hi <b>&", "Author": "+1555", "Index": int64(3), "Empty": "", "Nil": nil,
			"ChannelAttributes": map[string]any{"team": "blue", "size": "L", "list": []any{"a", "b"}}}},
		"flow": map[string]any{"flow_sid": "FW1", "variables": map[string]any{"count": int64(2), "ratio": 1.5, "name": "Ann", "ok": true, "first": "f"},
			"channel": map[string]any{"address": "CH1"}, "data": map[string]any{}},
		"widgets": map[string]any{"get-datetime-parts": map[string]any{"parsed": map[string]any{"readable_datetime": "Tuesday"}}},
		"contact": map[string]any{"channel": map[string]any{"address": "+1555"}},
	}
	templates := []string{
		"plain text", "", "{{flow.flow_sid}}", "{{ flow.flow_sid }}", "a {{trigger.conversation.Body}} b {{contact.channel.address}}",
		"{{widgets.get-datetime-parts.parsed.readable_datetime}}", "{{trigger.message.InstanceSid}}", "{{trigger.conversation.Missing}}",
		"{{trigger.conversation.Missing.deeper.still}}", "{{trigger.conversation.Empty}}x", "{{trigger.conversation.Nil}}",
		"{{flow.variables.count}}", "{{flow.variables.ratio}}", "{{flow.variables.ok}}", "{{flow.variables}}", "{{flow.variables.first}}",
		"{{trigger.conversation.ChannelAttributes.size}}", "{{trigger.conversation.ChannelAttributes.list.first}}",
		"{{trigger.conversation.ChannelAttributes.list.size}}", "{{trigger.conversation.ChannelAttributes.team}}",
		"{{trigger.conversation.Body | upcase}}", "{{-flow.flow_sid-}}", "{{flow.flow_sid.}}", "{{.flow}}", "{{flow..sid}}",
		"{{flow['flow_sid']}}", "{% if flow.flow_sid %}y{% endif %}", "{{ }}", "{{flow.flow_sid", "}}{{flow.flow_sid}}{{",
		"{{1abc}}", "{{ nothing }}", "{{nothing.size}}", "{{trigger.conversation.Body}}{{trigger.conversation.Body}}",
		strings.Repeat("{{trigger.conversation.Body}}", 2000),
	}
	answered := 0
	for _, src := range templates {
		fast, ok := fastRender(src, vars)
		want, err := lq.Render(src, vars)
		if !ok {
			continue
		}
		answered++
		t.Logf("fast path: %.60q -> %.40q", src, fast)
		if err != nil {
			t.Errorf("%q: fastRender answered %q, liquid failed: %v", src, fast, err)
		} else if fast != want {
			t.Errorf("%q: fastRender %q, liquid %q", src, fast, want)
		}
	}
	if answered < 10 {
		t.Errorf("fastRender answered only %d templates: the fast path is not being taken", answered)
	}
}
