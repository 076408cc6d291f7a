"""The intake benchmark's baseline: the least a durable intake can do.

Checks the HMAC and makes exactly one Redis round trip (LPUSH of the body), then answers 202.
"""

import hashlib
import hmac
import os

import redis
from flask import Flask, request

app = Flask(__name__)
SECRET = os.environ["BENCH_SECRET"].encode()  # not a name gunicorn.conf.py takes away
STORE = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])


@app.post("/webhook")
def webhook():
    body = request.get_data()
    expected = "sha256=" + hmac.new(SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, request.headers.get("X-Hub-Signature-256", "")):
        return {"status": "unauthorized"}, 401
    STORE.lpush("baseline:intake", body)
    return {"status": "queued"}, 202
