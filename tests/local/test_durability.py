"""The local Kubernetes API's store under faults: kill -9 after
acknowledged writes loses none of them (and watches resume across the
restart); a corrupt or foreign store file, or one another server holds,
is refused with exit 2 and a message naming it, never reset; a full disk answers 507 and loses
nothing already stored (a 2 MiB tmpfs; mounting needs root, the test
skips that part with its reason otherwise)."""
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from localkube import LocalKube, StartFailed  # noqa: E402

CM = "/api/v1/namespaces/default/configmaps"


class Durability(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="localkube-dur-")
        self.data = os.path.join(self.tmp, "data")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_kill9_loses_no_acknowledged_write(self):
        lk = LocalKube(self.data)
        c = lk.client()
        acked = {}
        for i in range(150):
            r = c.post(CM, {"metadata": {"name": f"cm{i}"}, "data": {"v": "0"}})
            self.assertEqual(r.status, 201, r)
            acked[f"cm{i}"] = "0"
        for i in range(0, 150, 3):
            r = c.patch(f"{CM}/cm{i}", {"data": {"v": "1"}})
            self.assertEqual(r.status, 200, r)
            acked[f"cm{i}"] = "1"
        last_rv = int(r.body["metadata"]["resourceVersion"])
        c.close()
        lk.kill9()
        lk = LocalKube(self.data)
        try:
            c = lk.client()
            items = c.get(CM).body["items"]
            self.assertEqual({i["metadata"]["name"]: i["data"]["v"] for i in items}, acked)
            r = c.post(CM, {"metadata": {"name": "after"}})
            self.assertGreater(int(r.body["metadata"]["resourceVersion"]), last_rv,
                               "the resourceVersion goes on from where it stood")
            w = lk.watch(f"{CM}?watch=1&resourceVersion={last_rv - 1}")
            ev = w.events_until(lambda e: True)[0]
            self.assertEqual((ev["type"], int(ev["object"]["metadata"]["resourceVersion"])),
                             ("MODIFIED", last_rv), "watch history survives the restart")
            w.close()
            c.close()
            for name in ("store.db", "store.db-wal", "admin-token", "kube-tls.key",
                         "kubeconfig"):
                mode = os.stat(os.path.join(self.data, name)).st_mode & 0o777
                self.assertEqual(mode, 0o600, f"{name} is {oct(mode)}")
        finally:
            lk.stop()

    def refused(self, why):
        with self.assertRaises(StartFailed) as cm:
            LocalKube(self.data)
        self.assertEqual(cm.exception.code, 2)
        path = os.path.join(self.data, "store.db")
        self.assertIn(path, cm.exception.stderr)
        self.assertIn(why, cm.exception.stderr)
        return path

    def test_corrupt_store_is_refused(self):
        os.makedirs(self.data)
        path = os.path.join(self.data, "store.db")
        with open(path, "wb") as f:
            f.write(b"this is not a database at all\n" * 200)
        with open(path, "rb") as f:
            before = f.read()
        self.refused("corrupt or not Ambient's")
        with open(path, "rb") as f:
            self.assertEqual(f.read(), before, "the file was changed")

    def test_damaged_store_is_refused(self):
        lk = LocalKube(self.data)
        c = lk.client()
        for i in range(50):
            c.post(CM, {"metadata": {"name": f"cm{i}"}, "data": {"v": "x" * 2000}})
        c.close()
        lk.stop()
        path = os.path.join(self.data, "store.db")
        with open(path, "r+b") as f:  # pages past the header: the tables' content
            f.seek(4096 * 3)
            f.write(os.urandom(4096 * 4))
        self.refused("store")

    def test_a_second_server_on_the_store_is_refused(self):
        lk = LocalKube(self.data)
        try:
            self.refused("in use by another process")
            self.assertEqual(lk.client().get(CM).status, 200, "the first one goes on")
        finally:
            lk.stop()

    def test_foreign_sqlite_file_is_refused(self):
        os.makedirs(self.data)
        db = sqlite3.connect(os.path.join(self.data, "store.db"))
        db.execute("CREATE TABLE songs(title TEXT)")
        db.commit()
        db.close()
        self.refused("not an Ambient store")


class DiskFull(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="localkube-full-")
        self.mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(self.mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.skipTest("cannot mount a small tmpfs to fill (needs root): " + r.stderr.strip())

    def tearDown(self):
        subprocess.run(["umount", self.mnt], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_full_disk_is_507_and_loses_nothing(self):
        data = os.path.join(self.mnt, "data")
        lk = LocalKube(data)
        c = lk.client()
        stored, full = [], None
        for i in range(200):  # 200 × 20 KB is twice the disk
            r = c.post(CM, {"metadata": {"name": f"cm{i}"}, "data": {"v": f"{i}" + "x" * 20000}})
            if r.status != 201:
                full = r
                break
            stored.append(f"cm{i}")
        self.assertIsNotNone(full, "the disk never filled")
        self.assertEqual((full.status, full.body["reason"]), (507, "InsufficientStorage"), full)
        self.assertIn("disk is full", full.body["message"])
        self.assertGreater(len(stored), 10)
        # Reads go on, and later writes fail cleanly too.
        names = [i["metadata"]["name"] for i in c.get(CM).body["items"]]
        self.assertEqual(sorted(names), sorted(stored))
        r = c.patch(f"{CM}/cm0", {"data": {"v": "y" * 200000}})
        self.assertIn(r.status, (507, 413), r)
        c.close()
        self.assertEqual(lk.stop(), 0)
        # Space again, and a restart: everything acknowledged is there.
        subprocess.run(["mount", "-o", "remount,size=8m", self.mnt], check=True)
        lk = LocalKube(data)
        try:
            c = lk.client()
            items = c.get(CM).body["items"]
            self.assertEqual(sorted(i["metadata"]["name"] for i in items), sorted(stored))
            for i in items:
                n = int(i["metadata"]["name"][2:])
                self.assertTrue(i["data"]["v"].startswith(f"{n}x"))
            self.assertEqual(c.post(CM, {"metadata": {"name": "more"}}).status, 201)
            c.close()
        finally:
            lk.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
