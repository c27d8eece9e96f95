/*
 * kube_creds.h - what kube_config.c and kube_creds.c share inside the
 * Kubernetes configuration module; callers use kube_config.h only.
 *
 * struct kube_config_cache (kube_creds.c) holds the token read from the
 * token file and the exec plugin's credential, under its own lock.
 */
#ifndef APPDB_KUBE_CREDS_H
#define APPDB_KUBE_CREDS_H

#include "kube_config.h"

#define KUBE_FILE_MAX (4 << 20) /* the largest kubeconfig, token or namespace file */

/* A new empty credentials cache (freed by kube_creds_cache_free); NULL on no memory. */
struct kube_config_cache *kube_creds_cache_new(void);
/* Wipes what it holds and frees it. NULL is fine. */
void kube_creds_cache_free(struct kube_config_cache *c);

/* Frees a NULL-terminated vector of strings, wiping each first when wipe is set. */
void kube_strv_free(char **v, int wipe);

/* Removes trailing whitespace in place. */
void kube_rtrim(char *s);

#endif
