/* feed.c — what the live service knows of the objects that have an event
 * log (every kind with AMB_KIND_EVENT_LOG: sessions). One watch per such
 * kind, made with the api's own identity (read-only; every subscriber is
 * still checked with its own token before it sees a byte), keeps each
 * object's uid (which names its log: workers look it up here), removes the
 * log of a deleted object (and so of every object of a deleted project:
 * Kubernetes deletes a namespace's objects one by one, each a DELETED
 * event), and, with api.live.session_status, turns each change of an
 * object's status into an event
 * {"type": "status", "phase": ..., "status": {...}} appended to its log, so
 * its streams show what the controller decides (Pending, Running, Failed
 * with a reason), not only what its workload posts.
 *
 * Each watch is a kind_watch loop (kind_watch.h) on its own thread: list
 * (to learn where to watch from, and after a 410 what changed meanwhile),
 * then watch with bookmarks, resuming from the last resourceVersion; errors
 * back off up to 30 s. After each list, what that kind's list did not show goes (deleted while nobody
 * watched), and — once every kind has been listed — so do the logs on disk
 * of objects no watch knows. Events go to the loop thread through a queue
 * under l->mu. The first list of a kind records what exists without an
 * event each: only changes are news. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kind_watch.h"
#include "live/live_int.h"

#define FEED_BUCKETS 4096

/* What the feed knows of an object: its uid, the hash of its last status. */
struct known {
    struct known *next;
    uint64_t sig;
    unsigned kind; /* index in l->kinds */
    unsigned mark; /* the list of its kind that last saw it */
    char uid[STORE_UID_MAX];
    char key[];    /* "kind/ns/name" */
};

struct feed;

/* What the feed follows of one kind (its loop: kind_watch.c). */
struct watch {
    struct feed *f;
    const struct live_kind *kind;
    unsigned mark;
    atomic_int announce; /* 0 during its first list */
};

struct feed {
    struct live *l;
    pthread_mutex_t mu; /* the table: the watches write, workers read */
    struct known *buckets[FEED_BUCKETS];
    struct watch watches[LIVE_MAX_KINDS];
    size_t n_watches;
};

static uint64_t fnv(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static struct known **slot(struct feed *f, const char *key)
{
    struct known **p = &f->buckets[fnv(key, strlen(key)) % FEED_BUCKETS];
    while (*p && strcmp((*p)->key, key))
        p = &(*p)->next;
    return p;
}

static int stopping(const struct feed *f) { return atomic_load(&f->l->feed_stop); }

/* Queues it for the loop thread (takes it). */
static void queue_item(struct feed *f, struct live_feed_item *it)
{
    pthread_mutex_lock(&f->l->mu);
    if (f->l->feed_tail)
        f->l->feed_tail->next = it;
    else
        f->l->feed_head = it;
    f->l->feed_tail = it;
    pthread_mutex_unlock(&f->l->mu);
    live_wake(f->l);
}

/* Queues ev for uid's log, or (ev NULL) the removal of that log. */
static void emit(struct feed *f, const char *ns, const char *uid, json_t *ev)
{
    struct live_feed_item *it = calloc(1, sizeof *it);
    if (!it) {
        json_decref(ev);
        return;
    }
    snprintf(it->project, sizeof it->project, "%s", ns);
    snprintf(it->uid, sizeof it->uid, "%s", uid);
    it->event = ev;
    queue_item(f, it);
}

/* "ns", "name" and "uid" of obj's metadata; 0 when they are usable. */
static int ids(const json_t *obj, const char **ns, const char **name, const char **uid)
{
    const json_t *md = json_object_get(obj, "metadata");
    *ns = json_string_value(json_object_get(md, "namespace"));
    *name = json_string_value(json_object_get(md, "name"));
    *uid = json_string_value(json_object_get(md, "uid"));
    return *ns && *name && amb_is_dns_label(*ns) && strlen(*name) < 254 && store_is_uid(*uid)
               ? 0
               : -1;
}

/* Records obj's uid and status; a change of status (after the first list)
 * becomes an event. */
static void observe(struct watch *w, const json_t *obj)
{
    struct feed *f = w->f;
    const char *ns, *name, *uid;
    if (ids(obj, &ns, &name, &uid) != 0)
        return;
    json_t *status = json_object_get(obj, "status");
    char *text = status ? json_dumps(status, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    uint64_t sig = text ? fnv(text, strlen(text)) : 0;
    size_t text_len = text ? strlen(text) : 0;
    free(text);
    char key[340];
    snprintf(key, sizeof key, "%u/%s/%s", w->kind->index, ns, name);
    pthread_mutex_lock(&f->mu);
    struct known **p = slot(f, key);
    if (*p && strcmp((*p)->uid, uid) != 0) {
        /* made again under the same name while we did not watch */
        emit(f, ns, (*p)->uid, NULL);
        (*p)->sig = 0;
    }
    int changed = *p ? (*p)->sig != sig : sig != 0;
    if (!*p) {
        size_t len = strlen(key);
        if (!(*p = calloc(1, sizeof **p + len + 1))) {
            pthread_mutex_unlock(&f->mu);
            return;
        }
        memcpy((*p)->key, key, len + 1);
        (*p)->kind = w->kind->index;
    }
    snprintf((*p)->uid, sizeof (*p)->uid, "%s", uid);
    (*p)->sig = sig;
    (*p)->mark = w->mark;
    pthread_mutex_unlock(&f->mu);
    if (changed && atomic_load(&w->announce) && sig)
        live_langfuse_status(f->l, w->kind, obj);
    if (!changed || !atomic_load(&w->announce) || !sig || !f->l->cfg->live_session_status)
        return;
    if (text_len + 256 > f->l->max_event) {
        api_host->log(api_self, AMB_LOG_WARN, "live: an object's status is too large to stream",
                      "kind", w->kind->kind->resource.kind, "namespace", ns, "name", name, NULL);
        return;
    }
    const char *phase = json_string_value(json_object_get(status, "phase"));
    json_t *ev = json_pack("{s:s, s:O}", "type", "status", "status", status);
    if (ev && phase)
        json_object_set_new(ev, "phase", json_string(phase));
    if (ev)
        emit(f, ns, uid, ev);
}

/* A deleted object: forgotten, and its log removed. */
static void forget(struct watch *w, const json_t *obj)
{
    struct feed *f = w->f;
    const char *ns, *name, *uid;
    if (ids(obj, &ns, &name, &uid) != 0)
        return;
    char key[340];
    snprintf(key, sizeof key, "%u/%s/%s", w->kind->index, ns, name);
    pthread_mutex_lock(&f->mu);
    struct known **p = slot(f, key);
    if (*p && strcmp((*p)->uid, uid) == 0) {
        struct known *gone = *p;
        *p = gone->next;
        free(gone);
    }
    pthread_mutex_unlock(&f->mu);
    emit(f, ns, uid, NULL);
}

static int by_uid(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* 1 once every watch has listed its kind: only then does the table know
 * every object that has a log. */
static int all_listed(const struct feed *f)
{
    for (size_t i = 0; i < f->n_watches; i++)
        if (!atomic_load(&f->watches[i].announce))
            return 0;
    return 1;
}

/* Drops what w's last list did not see of its kind (deleted while we were
 * not watching), removing its log, and, once every kind is listed, hands
 * the loop the uids that exist so it removes logs of objects deleted while
 * no ambientd ran. */
static void sweep(struct watch *w, long long listed_at)
{
    struct feed *f = w->f;
    struct live_feed_item *all = all_listed(f) ? calloc(1, sizeof *all) : NULL;
    size_t cap = 0;
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < FEED_BUCKETS; i++) {
        struct known **p = &f->buckets[i];
        while (*p) {
            struct known *k = *p;
            if (k->kind == w->kind->index && k->mark != w->mark) {
                const char *after_kind = strchr(k->key, '/') + 1;
                char ns[64];
                snprintf(ns, sizeof ns, "%.*s", (int)strcspn(after_kind, "/"), after_kind);
                emit(f, ns, k->uid, NULL);
                *p = k->next;
                free(k);
                continue;
            }
            if (all && all->n_uids == cap) {
                cap = cap ? cap * 2 : 256;
                void *grown = realloc(all->uids, cap * sizeof *all->uids);
                if (!grown) {
                    free(all->uids);
                    free(all);
                    all = NULL; /* no file sweep this time; the next list's */
                } else {
                    all->uids = grown;
                }
            }
            if (all)
                memcpy(all->uids[all->n_uids++], k->uid, STORE_UID_MAX);
            p = &k->next;
        }
    }
    pthread_mutex_unlock(&f->mu);
    if (!all)
        return;
    if (all->n_uids)
        qsort(all->uids, all->n_uids, sizeof *all->uids, by_uid);
    all->listed_at = listed_at;
    queue_item(f, all);
}

/* ---- the loop's callbacks (kind_watch.h) ---- */

/* Each ignores what comes once the live service stops. */
static void on_relisting(void *ud)
{
    struct watch *w = ud;
    w->mark++;
}

static void on_item(void *ud, const json_t *obj)
{
    struct watch *w = ud;
    if (!stopping(w->f))
        observe(w, obj);
}

static void on_listed(void *ud, const char *rv, long long listed_at)
{
    struct watch *w = ud;
    (void)rv;
    atomic_store(&w->announce, 1); /* before the sweep: this kind is listed */
    if (!stopping(w->f))
        sweep(w, listed_at);
}

static void on_event(void *ud, const char *type, const json_t *obj, const char *rv)
{
    struct watch *w = ud;
    (void)rv;
    if (stopping(w->f))
        return;
    if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED"))
        observe(w, obj);
    else if (!strcmp(type, "DELETED"))
        forget(w, obj);
}

static const struct kind_watch_ops feed_ops = {
    .relisting = on_relisting,
    .item = on_item,
    .listed = on_listed,
    .event = on_event,
};

int live_feed_start(struct live *l, struct kind_watches *watches)
{
    if (l->n_kinds == 0)
        return AMB_OK; /* no kind has an event log: nothing to watch */
    struct feed *f = calloc(1, sizeof *f);
    if (!f)
        return AMB_ENOMEM;
    f->l = l;
    pthread_mutex_init(&f->mu, NULL);
    l->feed_state = f; /* before any worker asks live_feed_uid */
    for (size_t i = 0; i < l->n_kinds; i++) {
        struct watch *w = &f->watches[f->n_watches++];
        w->f = f;
        w->kind = &l->kinds[i];
        int rc = kind_watches_subscribe(watches, w->kind->kind, &feed_ops, w);
        if (rc != AMB_OK)
            return rc;
    }
    return AMB_OK;
}

void live_feed_stop(struct live *l)
{
    atomic_store(&l->feed_stop, 1);
}

void live_feed_free(struct live *l)
{
    struct feed *f = l->feed_state;
    if (!f)
        return;
    live_feed_stop(l);
    for (size_t i = 0; i < FEED_BUCKETS; i++) {
        while (f->buckets[i]) {
            struct known *k = f->buckets[i];
            f->buckets[i] = k->next;
            free(k);
        }
    }
    pthread_mutex_destroy(&f->mu);
    free(f);
    l->feed_state = NULL;
}

int live_feed_uid(struct live *l, const struct live_kind *kind, const char *project,
                  const char *name, char uid[STORE_UID_MAX])
{
    struct feed *f = l->feed_state;
    if (!f)
        return 0;
    char key[340];
    snprintf(key, sizeof key, "%u/%s/%s", kind->index, project, name);
    pthread_mutex_lock(&f->mu);
    struct known *k = *slot(f, key);
    if (k)
        memcpy(uid, k->uid, STORE_UID_MAX);
    pthread_mutex_unlock(&f->mu);
    return k != NULL;
}

struct file_sweep {
    struct live *l;
    const struct live_feed_item *listed;
};

static int listed(void *ud, const char *uid)
{
    const struct live_feed_item *it = ((struct file_sweep *)ud)->listed;
    return it->n_uids && bsearch(uid, it->uids, it->n_uids, sizeof *it->uids, by_uid) != NULL;
}

static void unlisted(void *ud, const char *project, const char *uid)
{
    live_hub_remove(((struct file_sweep *)ud)->l, project, uid);
}

void live_feed_drain(struct live *l)
{
    pthread_mutex_lock(&l->mu);
    struct live_feed_item *it = l->feed_head;
    l->feed_head = l->feed_tail = NULL;
    pthread_mutex_unlock(&l->mu);
    while (it) {
        struct live_feed_item *next = it->next;
        if (l->stopping) {
            /* dropped: what the loop never took */
        } else if (it->listed_at) {
            struct file_sweep sw = {l, it};
            store_sweep(l->cfg->live_dir, it->listed_at, listed, unlisted, &sw);
        } else if (!it->event) {
            live_hub_remove(l, it->project, it->uid);
        } else {
            json_t *arr = json_array();
            uint64_t first, last;
            char msg[256];
            if (arr && json_array_append(arr, it->event) == 0)
                live_hub_append(l, NULL, it->project, it->uid, "platform", arr, &first, &last,
                                msg, sizeof msg);
            json_decref(arr);
        }
        json_decref(it->event);
        free(it->uids);
        free(it);
        it = next;
    }
}
