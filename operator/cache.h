/*
 * cache.h - the disk cache of last-known AppDatabases (DESIGN section 8).
 *
 * One file per resource in cacheDir, "appdb.<namespace>_<name>.json" with
 * every byte outside [a-z0-9.-] percent-encoded, mode 0600:
 *
 *   {"version": 1,
 *    "object": {apiVersion, kind, metadata: {name, namespace, uid,
 *               generation, resourceVersion, annotations (only those of
 *               the db.platform.dev group)}, spec},
 *    "pendingStatus": [merge patch, ...],   oldest first
 *    "pendingEvents": [Event, ...]}         oldest first
 *
 * The spec names password sources, never a value; nothing else from the
 * object is kept. A file is written atomically: a hidden temp file in the
 * same directory, fsync, rename over the old one, fsync of the directory.
 * At start cache_load_all reads every file; a leftover temp file (a crash
 * mid-write) is removed, a file that does not parse or has the wrong shape
 * is logged and renamed aside to "<file>.corrupt", never fatal.
 *
 * A struct cache is shared by all threads (thread-safe).
 */
#ifndef APPDB_CACHE_H
#define APPDB_CACHE_H

#include "err.h"

#include <jansson.h>
#include <stddef.h>

#define CACHE_FORMAT_VERSION 1
#define CACHE_PENDING_STATUS_MAX 16
#define CACHE_PENDING_EVENTS_MAX 64

struct cache_entry {
	char *ns;
	char *name;
	json_t *object;         /* the sanitized AppDatabase */
	json_t *pending_status; /* array, oldest first */
	json_t *pending_events; /* array, oldest first */
};

struct cache;

/* Opens (creating, mode 0700) dir. Returns 0, APPDB_EIO or APPDB_ENOMEM. */
int cache_open(struct cache **out, const char *dir, struct err *err);
void cache_close(struct cache *c);

/* The directory (borrowed). */
const char *cache_dir(const struct cache *c);

/*
 * Makes an entry from an API object (borrowed): keeps only the fields
 * above. APPDB_EINVAL without metadata.namespace and metadata.name.
 */
int cache_entry_from_object(struct cache_entry *out, json_t *obj, struct err *err);

/*
 * The part of an API object (borrowed) the cache keeps, described above, as
 * a new reference; NULL on allocation failure.
 */
json_t *cache_sanitize(json_t *obj);

/* Replaces the entry's object with a sanitized copy of obj (borrowed). */
int cache_entry_set_object(struct cache_entry *e, json_t *obj, struct err *err);

/* Appends a status patch / an Event (borrowed; copied); the oldest go past the caps. */
int cache_entry_push_status(struct cache_entry *e, json_t *patch);
int cache_entry_push_event(struct cache_entry *e, json_t *event);

void cache_entry_clear(struct cache_entry *e);

/* The file name (no directory) for ns/name, owned. */
char *cache_file_name(const char *ns, const char *name);

/* Writes e atomically. Returns 0, APPDB_EIO or APPDB_ENOMEM. */
int cache_save(struct cache *c, const struct cache_entry *e, struct err *err);

/* Removes the file of ns/name; a missing file is fine. */
int cache_remove(struct cache *c, const char *ns, const char *name, struct err *err);

/*
 * Loads every cache file into *out (an owned array of *out_n entries; free
 * each with cache_entry_clear, then the array). Corrupt files are renamed
 * aside and counted in *out_corrupt (may be NULL).
 */
int cache_load_all(struct cache_entry **out, size_t *out_n, size_t *out_corrupt, struct cache *c,
                   struct err *err);

#ifdef APPDB_TEST_API
/* Loads one resource's file: APPDB_ENOTFOUND when there is none. */
int cache_load(struct cache_entry *out, struct cache *c, const char *ns, const char *name,
               struct err *err);
#endif

#endif
