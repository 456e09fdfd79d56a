#!/usr/bin/python3
"""A rotated service-account token file is picked up: after the file is
replaced (as the kubelet does, by rename) and the old identity loses its
rights, both the blocking calls of reconciles and re-opened watches use the
new token."""
import os

from ctlharness import ControllerTest, main

RBAC = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"


class TokenRotation(ControllerTest):
    @classmethod
    def setUpClass(cls):
        import tempfile
        cls.tokens = tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False)
        cls.tokens.write('kubesim-admin,admin,uid-0,"system:masters"\n'
                         'tokA,alice,uid-a\n'
                         'tokB,bob,uid-b\n')
        cls.tokens.close()
        cls.kubesim_args = ("--token-auth-file", cls.tokens.name)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        os.unlink(cls.tokens.name)

    def bind(self, user):
        k = self.kube
        role = k.c.get("/apis/rbac.authorization.k8s.io/v1/clusterroles/cluster-admin")
        self.assertEqual(role.status, 200, "kubesim has no cluster-admin ClusterRole")
        r = k.c.post(RBAC, {
            "metadata": {"name": "%s-admin" % user},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                        "name": "cluster-admin"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                          "name": user}]})
        self.assertEqual(r.status, 201, r)

    def write_token(self, path, token):
        tmp = path + ".new"
        with open(tmp, "w") as f:
            f.write(token + "\n")
        os.rename(tmp, path)

    def test_rotated_token_is_used(self):
        k = self.kube
        self.bind("alice")
        self.bind("bob")
        self.assertEqual(k.c.get("/api/v1/secrets", token="tokA").status, 200)
        token_file = os.path.join(self.tmp, "sa-token")
        self.write_token(token_file, "tokA")
        amb = self.start(token_file=token_file)
        ns = k.make_ns()
        k.create_widget(ns, "one")
        self.wait_reconciled(ns, "one")
        self.assertEqual(amb.has_msg("service-account token rotated"), [])

        self.write_token(token_file, "tokB")
        r = k.c.delete(RBAC + "/alice-admin")
        self.assertEqual(r.status, 200, r)
        # tokA still authenticates but is no longer authorized.
        self.assertEqual(k.c.get("/api/v1/secrets", token="tokA").status, 403)

        # Reconciles (blocking calls) now need tokB.
        k.create_widget(ns, "two")
        self.wait_reconciled(ns, "two")
        amb.wait_msg("service-account token rotated")
        # Watches re-opened after a cut need it too.
        k.wait_watching()
        self.assertGreaterEqual(k.drop_watches(), 2)
        k.create_widget(ns, "three")
        self.wait_reconciled(ns, "three")
        self.assertEqual(amb.metric("ambient_kube_requests_total", code="403"), 0)
        self.assertEqual(amb.metric("ambient_kube_requests_total", code="401"), 0)
        # The token never shows in the log.
        text = amb.log_text()
        self.assertNotIn("tokA", text)
        self.assertNotIn("tokB", text)
        amb.stop_clean(self)


if __name__ == "__main__":
    main()
