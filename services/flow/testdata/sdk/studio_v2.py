"""Drives Studio's REST API v2 on FlowService with the official twilio-python
client, as a deploy script would: TestStudioAPI_twilioPython runs it.

Environment: STUDIO_URL (FlowService's Studio base URL), ACCOUNT_SID,
AUTH_TOKEN, DEFINITION (a flow JSON file), TO and FROM (the contact and the
address the flow sends from). Exits non-zero, saying why, on the first
answer that is not what Studio gives.
"""
import json
import os
import sys

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client


def check(cond, what):
    if not cond:
        sys.exit("twilio-python: " + what)


def twilio_error(fn):
    try:
        fn()
    except TwilioRestException as e:
        return e.code, e.status
    return None, None


client = Client(os.environ["ACCOUNT_SID"], os.environ["AUTH_TOKEN"])
# twilio-python builds every URL from the domain's base_url.
client.studio.base_url = os.environ["STUDIO_URL"]
studio = client.studio.v2
with open(os.environ["DEFINITION"]) as f:
    definition = json.load(f)

flow = studio.flows.create(friendly_name="python", status="published", definition=definition)
check(flow.revision == 1 and flow.status == "published" and flow.valid, "create: %r" % flow)
check(studio.flows(flow.sid).fetch().definition == definition, "fetch: definition changed")
studio.flows.create(friendly_name="python 2", status="draft", definition=definition)
listed = studio.flows.list(page_size=1)
check(len(listed) >= 2, "list with page_size=1: %d flows" % len(listed))
flow = studio.flows(flow.sid).update(status="published", commit_message="second")
check(flow.revision == 2 and flow.commit_message == "second", "update: %r" % flow)
check([r.revision for r in studio.flows(flow.sid).revisions.list()] == [2, 1], "revisions")
check(studio.flows(flow.sid).revisions("LatestPublished").fetch().revision == 2, "LatestPublished")
check(studio.flow_validate.update(friendly_name="v", status="draft", definition=definition).valid, "validate")
code, status = twilio_error(lambda: studio.flow_validate.update(friendly_name="v", status="draft", definition={"states": []}))
check((code, status) == (81022, 400), "validate bad: %r" % ((code, status),))

# TO becomes a test user, so its execution runs the draft saved next.
check(studio.flows(flow.sid).test_users().fetch().test_users == [], "no test users yet")
users = studio.flows(flow.sid).test_users().update(test_users=[os.environ["TO"], "alice", os.environ["TO"]])
check(users.sid == flow.sid and users.test_users == [os.environ["TO"], "alice"], "test users: %r" % users.test_users)
check(studio.flows(flow.sid).test_users().fetch().test_users == [os.environ["TO"], "alice"], "fetch test users")
draft = studio.flows(flow.sid).update(status="draft", commit_message="try it")
check(draft.revision == 3 and draft.status == "draft", "draft: %r" % draft)

execution = studio.flows(flow.sid).executions.create(to=os.environ["TO"], from_=os.environ["FROM"], parameters={"name": "Zeke"})
check(execution.status == "active" and execution.contact_channel_address == os.environ["TO"], "execution: %r" % execution)
# Debian's twilio-python (7.7) predates Execution.flow_version: read the
# resource as it came.
raw = json.loads(client.request("GET", execution.url).text)
check(raw["flow_version"] == 3, "a test user's execution runs revision %r, not the draft 3" % raw["flow_version"])
ctx = studio.flows(flow.sid).executions(execution.sid).execution_context().fetch()
check(ctx.context["flow"]["data"] == {"name": "Zeke"}, "context: %r" % ctx.context)
steps = studio.flows(flow.sid).executions(execution.sid).steps.list()
check(len(steps) > 0 and steps[0].name == "incomingRequest", "steps: %r" % steps)
for step in steps:
    studio.flows(flow.sid).executions(execution.sid).steps(step.sid).step_context().fetch()
ended = studio.flows(flow.sid).executions(execution.sid).update(status="ended")
check(ended.status == "ended", "end: %r" % ended)
check(studio.flows(flow.sid).executions(execution.sid).delete(), "delete execution")
code, status = twilio_error(lambda: studio.flows(flow.sid).executions(execution.sid).fetch())
check((code, status) == (20404, 404), "fetch deleted execution: %r" % ((code, status),))

intruder = Client(os.environ["ACCOUNT_SID"], "wrongtoken")
intruder.studio.base_url = os.environ["STUDIO_URL"]
code, status = twilio_error(lambda: intruder.studio.v2.flows(flow.sid).fetch())
check((code, status) == (20003, 401), "wrong token: %r" % ((code, status),))
check(studio.flows(flow.sid).delete(), "delete flow")
code, status = twilio_error(lambda: studio.flows(flow.sid).fetch())
check((code, status) == (20404, 404), "fetch deleted flow: %r" % ((code, status),))
print("twilio-python: ok")
