"""The GitHub edge: REST client, App JWT and installation tokens, webhook parsing and
routing, the App manifest."""
