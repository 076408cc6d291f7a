"""Signed verdict records, pure parts: PAE as DSSE defines it, the statement, signing and
reading back; each forgery refused beside its untampered twin."""

import base64
import json

import pytest

from gatekeeper.core.attestation import (
    PAYLOAD_TYPE,
    PREDICATE_TYPE,
    STATEMENT_TYPE,
    Evidence,
    Malformed,
    canonical_json,
    envelope,
    opened,
    pae,
    predicate,
    read,
    statement,
)
from gatekeeper.core.model import Finding, Review, StageResult, User
from gatekeeper.core.review import Reviewer, ReviewResult
from gatekeeper.core.signing import (
    KeyProblem,
    key_id,
    new_pair,
    private_key,
    public_key,
    sign,
    verified_by,
)
from gatekeeper.core.verdict import GATE, CheckVerdict

REPO, SHA, OTHER = "octo/app", "a" * 40, "b" * 40


def test_pae_is_the_dsse_encoding():
    # the example of the DSSE protocol document
    assert pae("http://example.com/HelloWorld", b"hello world") == \
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    assert pae("", b"") == b"DSSEv1 0  0 "
    # lengths count bytes, not characters
    assert pae("t", "é".encode()) == b"DSSEv1 1 t 2 \xc3\xa9"


def test_canonical_json_is_the_same_bytes_whatever_the_key_order():
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == \
        canonical_json({"a": [True, None, "é"], "b": 1}) == '{"a":[true,null,"é"],"b":1}'.encode()
    with pytest.raises(ValueError):
        canonical_json({"x": float("nan")})


def approved_record(conclusion="success") -> dict:
    review = ReviewResult(True, (Reviewer("alice", "APPROVED", True, "has write permission", True),
                                 Reviewer("bob", "APPROVED", False, "asked the agent")),
                          1, 1, (), 0, 0, (), ())
    reviews = (Review(1, User("alice"), "APPROVED", SHA, "2026-12-01T10:00:00Z",
                      "ok\n/gatekeeper ack test-failure"),
               Review(2, User("bob"), "APPROVED", SHA, "2026-12-01T09:00:00Z"))
    stages = {"sast": StageResult("sast", "passed", "2 changed files scanned with semgrep "
                                  "1.2.3, bandit 1.8.0: 0 new findings\nmore",
                                  (Finding("bandit", "B101", "assert", "low", "a.py", 3,
                                           blocking=False, waived_by="sast.ignore"),))}
    body = predicate([CheckVerdict(GATE, conclusion, "Approved", ""),
                      CheckVerdict("gatekeeper/sast", "success", "", "")],
                     Evidence(7, "d" * 64, "standard", stages, review, reviews), "2026-12-01T10:01:00Z",
                     "0.1.0")
    return statement(REPO, SHA, body)


def test_the_statement_names_the_commit_policy_stages_findings_and_who_approved():
    made = approved_record()
    assert made["_type"] == STATEMENT_TYPE and made["predicateType"] == PREDICATE_TYPE
    assert made["subject"] == [{"name": REPO, "digest": {"gitCommit": SHA}}]
    body = made["predicate"]
    assert body["conclusion"] == "success" and body["policy"] == {"sha256": "d" * 64,
                                                                   "level": "standard"}
    assert body["stages"] == [{"name": "sast", "status": "passed", "summary":
                               "2 changed files scanned with semgrep 1.2.3, bandit 1.8.0: 0 "
                               "new findings"}]
    assert body["findings"] == [{"stage": "sast", "tool": "bandit", "rule": "B101", "path": "a.py",
                                 "line": 3, "severity": "low", "new": True, "blocking": False,
                                 "waived_by": "sast.ignore"}]
    # only the approval that counted, with the commit it approved
    assert body["approvals"] == [{"by": "alice", "commit": SHA, "at": "2026-12-01T10:00:00Z",
                                  "sensitive": True}]
    assert body["acknowledgements"] == [{"by": "alice", "rules": ["test-failure"]}]
    assert statement(REPO, SHA, body, tree="c" * 40)["subject"][0]["digest"]["gitTree"] == "c" * 40


def test_a_gate_that_started_is_in_progress_never_a_pass():
    body = predicate([], Evidence(7), "t", "0.1.0", pending="running")
    assert body["conclusion"] == "in_progress"
    assert not read(canonical_json(statement(REPO, SHA, body)), REPO, SHA).passed


def signed(made: dict, key, payload: bytes | None = None) -> dict:
    payload = canonical_json(made) if payload is None else payload
    return envelope(payload, [sign(key, PAYLOAD_TYPE, payload)])


def check(env: dict, keys, repo=REPO, sha=SHA):
    """What `verify` decides, short of printing: the reading, or the reason it is refused."""
    kind, payload, signatures = opened(env)
    if kind != PAYLOAD_TYPE or verified_by(kind, payload, signatures, keys) is None:
        return "bad signature"
    try:
        return read(payload, repo, sha)
    except Malformed as exc:
        return str(exc)


@pytest.fixture(scope="module")
def keys():
    return [private_key(new_pair()[0]) for _ in range(2)]


def test_untampered_record_reads_back_and_every_forgery_is_refused(keys):
    ours, theirs = keys
    good = signed(approved_record(), ours)
    reading = check(good, [ours.public_key()])
    assert reading.passed and [a["by"] for a in reading.approvals] == ["alice"]  # control

    # the approver changed after signing
    edited = approved_record()
    edited["predicate"]["approvals"][0]["by"] = "mallory"
    tampered = {**good, "payload": base64.b64encode(canonical_json(edited)).decode()}
    assert check(tampered, [ours.public_key()]) == "bad signature"
    # the same edit signed by the right key would pass: only the signature stops it
    assert check(signed(edited, ours), [ours.public_key()]).approvals[0]["by"] == "mallory"
    # signed by another key, even naming ours
    forged = signed(edited, theirs)
    assert check(forged, [ours.public_key()]) == "bad signature"
    forged["signatures"][0]["keyid"] = key_id(ours.public_key())
    assert check(forged, [ours.public_key()]) == "bad signature"
    # the payload type is signed too
    assert verified_by("application/json", base64.b64decode(good["payload"]),
                       good["signatures"], [ours.public_key()]) is None


def test_a_genuine_record_of_another_commit_or_repository_is_refused(keys):
    ours = keys[0]
    good = signed(approved_record(), ours)
    assert check(good, [ours.public_key()], sha=SHA.upper()).passed  # control: same commit
    assert "not octo/app@" + OTHER in check(good, [ours.public_key()], sha=OTHER)
    assert "not octo/other@" in check(good, [ours.public_key()], repo="octo/other")
    two = approved_record()
    two["subject"].append({"name": REPO, "digest": {"gitCommit": OTHER}})
    assert "exactly one subject" in check(signed(two, ours), [ours.public_key()], sha=OTHER)


def test_blocked_record_is_genuine_but_not_passed(keys):
    reading = check(signed(approved_record("failure"), keys[0]), [keys[0].public_key()])
    assert not reading.passed and reading.conclusion == "failure"


def test_envelopes_that_are_not_ours_are_malformed():
    for bad in ([], {}, {"payloadType": PAYLOAD_TYPE, "payload": "!!", "signatures": [{"sig": ""}]},
                {"payloadType": PAYLOAD_TYPE, "payload": "", "signatures": []}):
        with pytest.raises(Malformed):
            opened(bad)
    with pytest.raises(Malformed, match="not an in-toto statement"):
        read(json.dumps({"_type": "x"}).encode(), REPO, SHA)


def test_keys_of_the_wrong_kind_are_refused(app_key):
    with pytest.raises(KeyProblem, match="not Ed25519"):
        private_key(app_key[0])  # the App's RSA key
    with pytest.raises(KeyProblem):
        public_key("not a key")
    private, public = new_pair()
    assert key_id(public_key(public)) == key_id(private_key(private).public_key())
    assert len(key_id(public_key(public))) == 16
