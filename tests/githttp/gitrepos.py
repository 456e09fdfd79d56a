#!/usr/bin/python3
"""gitrepos: bare repositories for githttp to serve, made with the real git.

    create(root, "org/repo.git", branch="trunk", files={"README.md": "hi\\n"})
    protect(repo_dir, "trunk", "trunk is protected: open a pull request")
    deny_non_fast_forward(repo_dir)
    head_branch(repo_dir) -> "trunk"; branches(repo_dir) -> {"trunk": sha}

Also a command line: gitrepos.py create ROOT NAME [--branch B] [--file PATH=TEXT]...
[--protect BRANCH[=MESSAGE]]... [--deny-non-fast-forward]. Standard library only.
"""

import argparse
import os
import subprocess
import sys
import tempfile

GIT = "git"
# Commits made here do not depend on the user's git configuration.
IDENTITY = {"GIT_AUTHOR_NAME": "Ambient Test", "GIT_AUTHOR_EMAIL": "test@ambient.invalid",
            "GIT_COMMITTER_NAME": "Ambient Test", "GIT_COMMITTER_EMAIL": "test@ambient.invalid",
            "GIT_CONFIG_NOSYSTEM": "1"}

PRE_RECEIVE = r"""#!/bin/sh
# Written by tests/githttp/gitrepos.py: refuses any push that updates a branch
# listed in protected-branches (one "branch<TAB>message" a line) beside this
# hook, printing the message (git shows it as "remote: ...").
list="$(dirname "$0")/protected-branches"
[ -f "$list" ] || exit 0
status=0
while read -r old new ref; do
    case "$ref" in refs/heads/*) branch=${ref#refs/heads/} ;; *) continue ;; esac
    while IFS='	' read -r name message; do
        if [ "$name" = "$branch" ]; then
            echo "${message:-branch $branch is protected}" >&2
            status=1
        fi
    done < "$list"
done
exit $status
"""


def git(*args, cwd=None, env=None, check=True):
    e = dict(os.environ, **IDENTITY)
    e.update(env or {})
    r = subprocess.run([GIT, *args], cwd=cwd, env=e, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=120)
    if check and r.returncode != 0:
        raise RuntimeError("git %s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr))
    return r.stdout


def create(root, name, branch="trunk", files=None, message="Initial commit", extra_branches=()):
    """A bare repository root/name whose HEAD (default branch) is `branch`,
    with one commit holding `files` ({relative path: text or bytes}; default a
    README.md) on it and on each of extra_branches. Returns its directory."""
    path = os.path.join(root, name)
    os.makedirs(path, exist_ok=False)
    git("init", "-q", "--bare", "--initial-branch=" + branch, path)
    if files is None:
        files = {"README.md": "# %s\n\nA test repository served by githttp.\n"
                 % os.path.basename(name).removesuffix(".git")}
    if files:
        with tempfile.TemporaryDirectory(prefix="gitrepos-") as work:
            git("init", "-q", "--initial-branch=" + branch, work)
            for rel, content in files.items():
                full = os.path.join(work, rel)
                os.makedirs(os.path.dirname(full), exist_ok=True)
                with open(full, "wb") as f:
                    f.write(content.encode() if isinstance(content, str) else content)
            git("add", "-A", cwd=work)
            git("commit", "-q", "-m", message, cwd=work)
            refs = [branch] + ["%s:refs/heads/%s" % (branch, b) for b in extra_branches]
            git("push", "-q", path, *refs, cwd=work)
    return path


def protect(repo, branch, message=None):
    """Refuses every push to `branch` with `message` (a pre-receive hook)."""
    hooks = os.path.join(repo, "hooks")
    os.makedirs(hooks, exist_ok=True)
    hook = os.path.join(hooks, "pre-receive")
    with open(hook, "w") as f:
        f.write(PRE_RECEIVE)
    os.chmod(hook, 0o755)
    msg = message or "branch %s is protected: push to another branch and open a pull request" \
        % branch
    with open(os.path.join(hooks, "protected-branches"), "a") as f:
        f.write("%s\t%s\n" % (branch, msg.replace("\n", " ")))


def deny_non_fast_forward(repo, deny=True):
    """Refuses forced (non-fast-forward) pushes, as branch protection does."""
    git("config", "receive.denyNonFastForwards", "true" if deny else "false", cwd=repo)


def head_branch(repo):
    """The default branch (what HEAD points to) of a bare repository."""
    return git("symbolic-ref", "--short", "HEAD", cwd=repo).strip()


def branches(repo):
    """{branch: commit sha} of a repository."""
    out = git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads/", cwd=repo)
    return dict(line.split(" ", 1) for line in out.splitlines() if line)


def read_file(repo, rev, path):
    """A file's content at a revision of a (bare) repository, or None."""
    r = subprocess.run([GIT, "show", "%s:%s" % (rev, path)], cwd=repo, stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, timeout=60)
    return r.stdout.decode() if r.returncode == 0 else None


def main(argv):
    p = argparse.ArgumentParser(prog="gitrepos", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("create", help="create a bare repository with one commit")
    c.add_argument("root")
    c.add_argument("name", help="path under root, e.g. org/repo.git")
    c.add_argument("--branch", default="trunk", help="default branch (default trunk)")
    c.add_argument("--file", action="append", default=[], metavar="PATH=TEXT")
    c.add_argument("--protect", action="append", default=[], metavar="BRANCH[=MESSAGE]")
    c.add_argument("--deny-non-fast-forward", action="store_true")
    a = p.parse_args(argv)
    files = dict(f.split("=", 1) for f in a.file) or None
    repo = create(a.root, a.name, a.branch, files)
    for spec in a.protect:
        b, _, msg = spec.partition("=")
        protect(repo, b, msg or None)
    if a.deny_non_fast_forward:
        deny_non_fast_forward(repo)
    print(repo)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
