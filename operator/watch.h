/*
 * watch.h - the list and watch of AppDatabases for one namespace (or all):
 * every object goes into the store, a change that needs a reconcile queues
 * its key, a deletion (seen, or found missing by a new list) queues the
 * deletion, and a list that succeeds queues every key with an outbox.
 *
 * Threads: each struct watcher runs watch_loop on its own thread and owns
 * its Kubernetes client and resource version; it shares the struct ctl.
 */
#ifndef APPDB_WATCH_H
#define APPDB_WATCH_H

#include "ctl.h"
#include "kube_client.h"

#include <pthread.h>

#define WATCH_TIMEOUT_SECONDS 300

struct watcher {
	struct ctl *ctl;        /* borrowed */
	const char *ns;         /* borrowed; NULL: all namespaces */
	struct kube_client *kc; /* owned */
	int health_id;
	char *rv;       /* owned: the resource version to watch from */
	size_t refused; /* events of the current watch refused as no AppDatabase */
	pthread_t thread_id;
};

/* The thread body: lists, then watches, until the controller stops. arg is a struct watcher. */
void *watch_loop(void *arg);

#endif
