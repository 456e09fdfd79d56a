/* store.c — the local API's objects on SQLite (store.h). WAL with
 * synchronous=FULL: a write is acknowledged only after its commit reached
 * the disk, so neither kill -9 nor a power cut loses it (docs/decisions.md). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <sqlite3.h>

/* "AmbK" in PRAGMA application_id marks the file as this store. */
#define STORE_APP_ID 0x416d624b
#define STORE_FORMAT 1

struct kstore {
    sqlite3 *db;
    sqlite3_stmt *get, *put, *del, *event, *trim, *meta, *own_clear, *own_add, *tok_put,
        *tok_get;
    int64_t rv, floor, rv_at_begin, floor_at_begin;
    unsigned history;
    json_t *pending; /* events of the open transaction */
    char errmsg[256];
};

static const char *const schema =
    "CREATE TABLE objects(res TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY(res, ns, name)) WITHOUT ROWID;"
    "CREATE INDEX objects_ns ON objects(ns, res);"
    "CREATE TABLE owners(owner_uid TEXT NOT NULL, res TEXT NOT NULL, ns TEXT NOT NULL,"
    " name TEXT NOT NULL, PRIMARY KEY(owner_uid, res, ns, name)) WITHOUT ROWID;"
    "CREATE INDEX owners_child ON owners(res, ns, name);"
    "CREATE TABLE events(rv INTEGER PRIMARY KEY, body TEXT NOT NULL);"
    "CREATE TABLE meta(k TEXT PRIMARY KEY, v INTEGER NOT NULL);"
    "CREATE TABLE tokens(hash TEXT PRIMARY KEY, info TEXT NOT NULL, exp INTEGER NOT NULL);"
    "INSERT INTO meta VALUES('rv', 0), ('floor', 0);";

static int classify(struct kstore *s, int rc)
{
    snprintf(s->errmsg, sizeof s->errmsg, "%s", sqlite3_errmsg(s->db));
    if ((rc & 0xff) == SQLITE_FULL || sqlite3_system_errno(s->db) == ENOSPC ||
        sqlite3_system_errno(s->db) == EDQUOT)
        return KSTORE_FULL;
    return KSTORE_IO;
}

const char *kstore_errmsg(const struct kstore *s)
{
    return s->errmsg;
}

static int exec(struct kstore *s, const char *sql)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? KSTORE_OK : classify(s, rc);
}

/* The first column of a one-row pragma or query as an integer; -1 on error. */
static int64_t query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static int prepare_all(struct kstore *s)
{
    struct {
        sqlite3_stmt **st;
        const char *sql;
    } stmts[] = {
        {&s->get, "SELECT body FROM objects WHERE res=?1 AND ns=?2 AND name=?3"},
        {&s->put, "INSERT OR REPLACE INTO objects(res, ns, name, body) VALUES(?1,?2,?3,?4)"},
        {&s->del, "DELETE FROM objects WHERE res=?1 AND ns=?2 AND name=?3"},
        {&s->event, "INSERT INTO events(rv, body) VALUES(?1, ?2)"},
        {&s->trim, "DELETE FROM events WHERE rv <= ?1"},
        {&s->meta, "UPDATE meta SET v=?2 WHERE k=?1"},
        {&s->own_clear, "DELETE FROM owners WHERE res=?1 AND ns=?2 AND name=?3"},
        {&s->own_add, "INSERT OR IGNORE INTO owners VALUES(?1,?2,?3,?4)"},
        {&s->tok_put, "INSERT OR REPLACE INTO tokens(hash, info, exp) VALUES(?1,?2,?3)"},
        {&s->tok_get, "SELECT info, exp FROM tokens WHERE hash=?1"},
    };
    for (size_t i = 0; i < sizeof stmts / sizeof stmts[0]; i++)
        if (sqlite3_prepare_v3(s->db, stmts[i].sql, -1, SQLITE_PREPARE_PERSISTENT, stmts[i].st,
                               NULL) != SQLITE_OK)
            return -1;
    return 0;
}

/* Checks what is in the file and creates the schema in an empty one. */
static int check_or_create(struct kstore *s, const char *path, int *fresh, char *err,
                           size_t err_len)
{
    int64_t app = query_int(s->db, "PRAGMA application_id");
    int64_t tables = query_int(s->db, "SELECT count(*) FROM sqlite_master");
    if (app < 0 || tables < 0) {
        snprintf(err, err_len, "%s: not a readable store (%s); it is corrupt or not Ambient's",
                 path, sqlite3_errmsg(s->db));
        return -1;
    }
    *fresh = app == 0 && tables == 0;
    if (*fresh) {
        char sql[128];
        snprintf(sql, sizeof sql, "PRAGMA application_id=%d; PRAGMA user_version=%d;",
                 STORE_APP_ID, STORE_FORMAT);
        if (exec(s, "BEGIN") || exec(s, schema) || exec(s, sql) || exec(s, "COMMIT")) {
            snprintf(err, err_len, "%s: cannot create the store: %s", path, s->errmsg);
            return -1;
        }
        return 0;
    }
    if (app != STORE_APP_ID) {
        snprintf(err, err_len, "%s: not an Ambient store (a SQLite file of something else)",
                 path);
        return -1;
    }
    int64_t format = query_int(s->db, "PRAGMA user_version");
    if (format != STORE_FORMAT) {
        snprintf(err, err_len, "%s: store format %lld, this ambientd reads format %d", path,
                 (long long)format, STORE_FORMAT);
        return -1;
    }
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_prepare_v2(s->db, "PRAGMA quick_check", -1, &st, NULL) == SQLITE_OK &&
             sqlite3_step(st) == SQLITE_ROW &&
             strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0;
    sqlite3_finalize(st);
    if (!ok) {
        snprintf(err, err_len, "%s: the store is corrupt (integrity check failed)", path);
        return -1;
    }
    return 0;
}

struct kstore *kstore_open(const char *path, unsigned history, int *fresh, char *err,
                           size_t err_len)
{
    struct kstore *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_len, "%s: out of memory", path);
        return NULL;
    }
    s->history = history;
    /* Made 0600 before SQLite opens it: its -wal file takes the database's
     * mode, and it holds the same Secrets. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_len, "%s: cannot open the store: %s", path, strerror(errno));
        free(s);
        return NULL;
    }
    fchmod(fd, 0600);
    close(fd);
    int rc = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        snprintf(err, err_len, "%s: cannot open the store: %s", path,
                 s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        kstore_close(s);
        return NULL;
    }
    sqlite3_extended_result_codes(s->db, 1);
    /* One process owns the store: its first write takes an exclusive lock
     * it holds until it closes, and a second opener is told so. */
    if (exec(s, "PRAGMA locking_mode=EXCLUSIVE; BEGIN EXCLUSIVE; COMMIT;")) {
        if ((sqlite3_errcode(s->db) & 0xff) == SQLITE_BUSY)
            snprintf(err, err_len,
                     "%s: in use by another process (another ambientd on this data directory?)",
                     path);
        else
            snprintf(err, err_len, "%s: not a readable store (%s); it is corrupt or not Ambient's",
                     path, sqlite3_errmsg(s->db));
        kstore_close(s);
        return NULL;
    }
    if (check_or_create(s, path, fresh, err, err_len) != 0) {
        kstore_close(s);
        return NULL;
    }
    if (exec(s, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=OFF;") ||
        prepare_all(s) != 0) {
        snprintf(err, err_len, "%s: cannot use the store: %s", path, sqlite3_errmsg(s->db));
        kstore_close(s);
        return NULL;
    }
    s->rv = query_int(s->db, "SELECT v FROM meta WHERE k='rv'");
    s->floor = query_int(s->db, "SELECT v FROM meta WHERE k='floor'");
    if (s->rv < 0 || s->floor < 0) {
        snprintf(err, err_len, "%s: the store is corrupt (no resourceVersion)", path);
        kstore_close(s);
        return NULL;
    }
    return s;
}

void kstore_close(struct kstore *s)
{
    if (!s)
        return;
    sqlite3_stmt *all[] = {s->get,  s->put,       s->del,    s->event,   s->trim,
                           s->meta, s->own_clear, s->own_add, s->tok_put, s->tok_get};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    sqlite3_close(s->db);
    json_decref(s->pending);
    free(s);
}

int64_t kstore_rv(const struct kstore *s)
{
    return s->rv;
}

int64_t kstore_floor(const struct kstore *s)
{
    return s->floor;
}

int kstore_begin(struct kstore *s)
{
    s->rv_at_begin = s->rv;
    s->floor_at_begin = s->floor;
    json_decref(s->pending);
    s->pending = json_array();
    return s->pending ? exec(s, "BEGIN IMMEDIATE") : KSTORE_IO;
}

/* Runs a prepared write statement to its end and resets it. */
static int step_done(struct kstore *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? KSTORE_OK : classify(s, rc);
}

static int set_meta(struct kstore *s, const char *k, int64_t v)
{
    sqlite3_bind_text(s->meta, 1, k, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s->meta, 2, v);
    return step_done(s, s->meta);
}

int kstore_commit(struct kstore *s, json_t **events)
{
    int rc = set_meta(s, "rv", s->rv);
    if (!rc && s->rv - s->floor > (int64_t)s->history + 64) {
        /* Trimmed in batches, so a write costs O(1) on average. */
        s->floor = s->rv - s->history;
        sqlite3_bind_int64(s->trim, 1, s->floor);
        rc = step_done(s, s->trim);
        if (!rc)
            rc = set_meta(s, "floor", s->floor);
    }
    if (!rc)
        rc = exec(s, "COMMIT");
    if (rc) {
        kstore_rollback(s);
        return rc;
    }
    *events = s->pending;
    s->pending = NULL;
    return KSTORE_OK;
}

void kstore_rollback(struct kstore *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    s->rv = s->rv_at_begin;
    s->floor = s->floor_at_begin;
    json_decref(s->pending);
    s->pending = NULL;
}

static void bind_key(sqlite3_stmt *st, const char *res, const char *ns, const char *name)
{
    sqlite3_bind_text(st, 1, res, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, ns ? ns : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, name, -1, SQLITE_STATIC);
}

json_t *kstore_get(struct kstore *s, const char *res, const char *ns, const char *name, int *rc)
{
    *rc = KSTORE_OK;
    bind_key(s->get, res, ns, name);
    json_t *obj = NULL;
    int step = sqlite3_step(s->get);
    if (step == SQLITE_ROW) {
        obj = json_loads((const char *)sqlite3_column_text(s->get, 0), 0, NULL);
        if (!obj)
            *rc = KSTORE_IO;
    } else if (step != SQLITE_DONE) {
        *rc = classify(s, step);
    }
    sqlite3_reset(s->get);
    sqlite3_clear_bindings(s->get);
    return obj;
}

/* Takes the next resourceVersion into obj and queues the event. */
static int record(struct kstore *s, const char *type, const char *res, const char *ns,
                  json_t *obj, const json_t *prev)
{
    char rv[24];
    snprintf(rv, sizeof rv, "%lld", (long long)++s->rv);
    json_t *meta = json_object_get(obj, "metadata");
    json_object_set_new(meta, "resourceVersion", json_string(rv));
    json_t *ev = json_pack("{s:s, s:s, s:s, s:O}", "type", type, "res", res, "ns", ns ? ns : "",
                           "object", obj);
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    int rc = KSTORE_IO;
    if (text) {
        sqlite3_bind_int64(s->event, 1, s->rv);
        sqlite3_bind_text(s->event, 2, text, -1, SQLITE_TRANSIENT);
        rc = step_done(s, s->event);
    }
    free(text);
    if (!rc) {
        /* The queued copy must not change with the caller's object. */
        json_object_set_new(ev, "object", json_deep_copy(obj));
        if (prev)
            json_object_set_new(ev, "prev", json_deep_copy(prev));
        json_array_append(s->pending, ev);
    }
    json_decref(ev);
    return rc;
}

static int index_owners(struct kstore *s, const char *res, const char *ns, const char *name,
                        const json_t *obj)
{
    bind_key(s->own_clear, res, ns, name);
    int rc = step_done(s, s->own_clear);
    size_t i;
    json_t *ref;
    json_array_foreach(json_object_get(json_object_get(obj, "metadata"), "ownerReferences"), i,
                       ref)
    {
        const char *uid = json_string_value(json_object_get(ref, "uid"));
        if (rc || !uid)
            continue;
        sqlite3_bind_text(s->own_add, 1, uid, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->own_add, 2, res, -1, SQLITE_STATIC);
        sqlite3_bind_text(s->own_add, 3, ns ? ns : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(s->own_add, 4, name, -1, SQLITE_STATIC);
        rc = step_done(s, s->own_add);
    }
    return rc;
}

int kstore_put(struct kstore *s, const char *res, const char *ns, const char *name, json_t *obj,
               const char *type, const json_t *prev)
{
    int rc = record(s, type, res, ns, obj, prev);
    char *text = rc ? NULL : json_dumps(obj, JSON_COMPACT);
    if (!rc && !text)
        rc = KSTORE_IO;
    if (!rc) {
        bind_key(s->put, res, ns, name);
        sqlite3_bind_text(s->put, 4, text, -1, SQLITE_TRANSIENT);
        rc = step_done(s, s->put);
    }
    free(text);
    return rc ? rc : index_owners(s, res, ns, name, obj);
}

int kstore_remove(struct kstore *s, const char *res, const char *ns, const char *name,
                  json_t *last)
{
    int rc = record(s, "DELETED", res, ns, last, NULL);
    if (!rc) {
        bind_key(s->del, res, ns, name);
        rc = step_done(s, s->del);
    }
    if (!rc) {
        bind_key(s->own_clear, res, ns, name);
        rc = step_done(s, s->own_clear);
    }
    return rc;
}

/* Steps st to its end, calling visit(res, ns, name, body) per row from
 * columns 0..3; finalizes st. */
static int visit_rows(struct kstore *s, sqlite3_stmt *st, kstore_visit visit, void *arg)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (visit((const char *)sqlite3_column_text(st, 0),
                  (const char *)sqlite3_column_text(st, 1),
                  (const char *)sqlite3_column_text(st, 2),
                  (const char *)sqlite3_column_text(st, 3), arg))
            break;
    }
    int out = rc == SQLITE_ROW || rc == SQLITE_DONE ? KSTORE_OK : classify(s, rc);
    sqlite3_finalize(st);
    return out;
}

int kstore_scan(struct kstore *s, const char *res, const char *ns, const char *after_ns,
                const char *after_name, kstore_visit visit, void *arg)
{
    /* Only the conditions that apply, so the primary key orders the rows
     * and no sort is needed. */
    char sql[320];
    snprintf(sql, sizeof sql,
             "SELECT res, ns, name, body FROM objects WHERE 1%s%s%s ORDER BY %sns, name",
             res ? " AND res=?1" : "", ns ? " AND ns=?2" : "",
             !after_name ? "" : ns ? " AND name > ?4" : " AND (ns, name) > (?3, ?4)",
             res ? "" : "res, ");
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return classify(s, rc);
    if (res)
        sqlite3_bind_text(st, 1, res, -1, SQLITE_STATIC);
    if (ns)
        sqlite3_bind_text(st, 2, ns, -1, SQLITE_STATIC);
    if (after_name && !ns)
        sqlite3_bind_text(st, 3, after_ns ? after_ns : "", -1, SQLITE_STATIC);
    if (after_name)
        sqlite3_bind_text(st, 4, after_name, -1, SQLITE_STATIC);
    return visit_rows(s, st, visit, arg);
}

int kstore_dependents(struct kstore *s, const char *uid, kstore_visit visit, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT o.res, o.ns, o.name, o.body FROM owners w JOIN objects o"
                                " ON o.res=w.res AND o.ns=w.ns AND o.name=w.name"
                                " WHERE w.owner_uid=?1",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return classify(s, rc);
    sqlite3_bind_text(st, 1, uid, -1, SQLITE_STATIC);
    return visit_rows(s, st, visit, arg);
}

int kstore_events_after(struct kstore *s, int64_t rv, kstore_visit visit, void *arg)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(s->db, "SELECT '', '', '', body FROM events WHERE rv > ?1 ORDER BY rv",
                                -1, &st, NULL);
    if (rc != SQLITE_OK)
        return classify(s, rc);
    sqlite3_bind_int64(st, 1, rv);
    return visit_rows(s, st, visit, arg);
}

int kstore_token_put(struct kstore *s, const char *hash, const json_t *info, int64_t exp)
{
    char *text = json_dumps(info, JSON_COMPACT);
    if (!text)
        return KSTORE_IO;
    /* Expired tokens go as new ones come, so the table stays as small as
     * the set of live tokens. */
    char sql[96];
    snprintf(sql, sizeof sql, "DELETE FROM tokens WHERE exp < %lld", (long long)time(NULL));
    int rc = exec(s, sql);
    if (rc) {
        free(text);
        return rc;
    }
    sqlite3_bind_text(s->tok_put, 1, hash, -1, SQLITE_STATIC);
    sqlite3_bind_text(s->tok_put, 2, text, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(s->tok_put, 3, exp);
    free(text);
    return step_done(s, s->tok_put);
}

json_t *kstore_token_get(struct kstore *s, const char *hash)
{
    sqlite3_bind_text(s->tok_get, 1, hash, -1, SQLITE_STATIC);
    json_t *info = NULL;
    if (sqlite3_step(s->tok_get) == SQLITE_ROW) {
        info = json_loads((const char *)sqlite3_column_text(s->tok_get, 0), 0, NULL);
        if (info)
            json_object_set_new(info, "exp", json_integer(sqlite3_column_int64(s->tok_get, 1)));
    }
    sqlite3_reset(s->tok_get);
    sqlite3_clear_bindings(s->tok_get);
    return info;
}
