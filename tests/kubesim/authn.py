"""Authentication: static bearer tokens (kube-apiserver --token-auth-file CSV)
and ServiceAccount tokens minted through the TokenRequest API.

Static tokens are audience-agnostic: like the real apiserver's wrapper they
only authenticate for the API server's own audiences.  Minted tokens carry
their audiences and expiry, and stop working when their ServiceAccount is
deleted (or recreated with another uid), as bound tokens do.
"""

import base64
import csv
import io
import json
import secrets
import threading
import time

ADMIN_TOKEN = "kubesim-admin"
DEFAULT_AUDIENCE = "https://kubernetes.default.svc.cluster.local"


class User:
    def __init__(self, name, uid="", groups=(), extra=None, add_authenticated=True):
        self.name = name
        self.uid = uid
        groups = list(groups)
        if add_authenticated and "system:authenticated" not in groups:
            groups.append("system:authenticated")
        self.groups = groups
        self.extra = extra or {}

    def is_master(self):
        return "system:masters" in self.groups

    def info(self):
        d = {"username": self.name, "uid": self.uid, "groups": self.groups}
        if self.extra:
            d["extra"] = self.extra
        return d


def parse_token_file(text):
    """token,user,uid[,"group1,group2"] per line; blank lines and # comments skipped."""
    users = {}
    for row in csv.reader(io.StringIO(text)):
        if not row or not row[0].strip() or row[0].lstrip().startswith("#"):
            continue
        if len(row) < 3:
            raise ValueError(f"token file line needs token,user,uid: {row!r}")
        token, name, uid = row[0].strip(), row[1].strip(), row[2].strip()
        groups = [g.strip() for g in row[3].split(",") if g.strip()] if len(row) > 3 else []
        users[token] = User(name, uid, groups)
    return users


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Authenticator:
    def __init__(self, token_file=None, api_audiences=(DEFAULT_AUDIENCE,), sa_lookup=None):
        if token_file:
            with open(token_file, encoding="utf-8") as f:
                self.static = parse_token_file(f.read())
        else:
            self.static = {ADMIN_TOKEN: User(ADMIN_TOKEN, "kubesim-admin-uid", ["system:masters"])}
        self.api_audiences = list(api_audiences)
        # sa_lookup(ns, name) -> uid or None: used to invalidate tokens of
        # deleted ServiceAccounts.
        self.sa_lookup = sa_lookup
        self.minted = {}
        self.lock = threading.Lock()

    def mint(self, namespace, name, sa_uid, audiences, expiration_seconds, bound_ref=None):
        """Create a token for ServiceAccount namespace/name.  It looks like a
        JWT (so tools can decode its claims) but is only valid here."""
        now = int(time.time())
        exp = now + int(expiration_seconds)
        auds = list(audiences) or list(self.api_audiences)
        claims = {"aud": auds, "exp": exp, "iat": now, "nbf": now,
                  "iss": DEFAULT_AUDIENCE,
                  "sub": f"system:serviceaccount:{namespace}:{name}",
                  "kubernetes.io": {"namespace": namespace,
                                    "serviceaccount": {"name": name, "uid": sa_uid}}}
        if bound_ref:
            claims["kubernetes.io"][bound_ref.get("kind", "").lower() or "object"] = {
                "name": bound_ref.get("name"), "uid": bound_ref.get("uid")}
        token = ".".join([_b64(json.dumps({"alg": "RS256", "kid": "kubesim"}).encode()),
                          _b64(json.dumps(claims).encode()),
                          _b64(secrets.token_bytes(32))])
        with self.lock:
            self.minted[token] = (namespace, name, sa_uid, auds, exp)
        return token, exp

    def authenticate(self, token, audiences=None):
        """Return (User, audiences) or (None, error message).  `audiences`
        are the ones the caller wants (TokenReview); None means the API's."""
        wanted = list(audiences) if audiences else list(self.api_audiences)
        user = self.static.get(token)
        if user is not None:
            if not set(wanted) & set(self.api_audiences):
                return None, "token audiences don't match"
            return user, [a for a in wanted if a in self.api_audiences]
        with self.lock:
            rec = self.minted.get(token)
        if rec is None:
            return None, "invalid bearer token"
        ns, name, sa_uid, auds, exp = rec
        if time.time() >= exp:
            return None, "token has expired"
        ok_auds = [a for a in wanted if a in auds]
        if not ok_auds:
            return None, (f"token audiences {json.dumps(auds)} is invalid for the "
                          f"target audiences {json.dumps(wanted)}")
        if self.sa_lookup is not None and self.sa_lookup(ns, name) != sa_uid:
            return None, f"serviceaccounts \"{name}\" not found"
        user = User(f"system:serviceaccount:{ns}:{name}", sa_uid,
                    ["system:serviceaccounts", f"system:serviceaccounts:{ns}"])
        return user, ok_auds

    def from_header(self, header):
        if not header or not header.startswith("Bearer "):
            return None
        user, _ = self.authenticate(header[len("Bearer "):].strip())
        return user
