# ruleid: debug-mode-enabled
DEBUG = True
# ok: debug-mode-enabled
DEBUG_TOOLBAR = False

# ruleid: hardcoded-secret
AWS_ACCESS_KEY_ID = "AKIAQWERTYUIOPASDFGH"
# ruleid: hardcoded-secret
GITHUB_TOKEN = "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"
# ruleid: hardcoded-secret
SLACK_BOT = "xoxb-1234567890-0987654321-AbCdEfGhIjKl"
# ruleid: hardcoded-secret
SLACK_HOOK = "https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEF2/abcdefGHIJKLmnop12345678"
# ok: hardcoded-secret
GITHUB_TOKEN_NAME = "GITHUB_TOKEN"
# ok: hardcoded-secret
AWS_REGION = "eu-west-1"

PRIVATE = """
# ruleid: hardcoded-secret
-----BEGIN RSA PRIVATE KEY-----
MIIEowIBAAKCAQEAzzzz
-----END RSA PRIVATE KEY-----
"""
# ok: hardcoded-secret
PUBLIC = "-----BEGIN PUBLIC KEY-----"
