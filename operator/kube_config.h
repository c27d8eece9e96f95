/*
 * kube_config.h - where the Kubernetes API is and how to authenticate to it.
 *
 * Two sources, as client-go has them:
 * - a kubeconfig file (current context; server; certificate-authority file
 *   or -data; insecure-skip-tls-verify, honoured only when set to true;
 *   token or tokenFile; client-certificate/-key, file or -data; the exec
 *   credential plugin, client.authentication.k8s.io/v1);
 * - in-cluster: KUBERNETES_SERVICE_HOST/PORT and the service account
 *   directory (token, ca.crt, namespace), /var/run/secrets/kubernetes.io/
 *   serviceaccount unless APPDB_SERVICEACCOUNT_DIR names another one.
 *
 * A token file is re-read when it changes (inode, size or mtime) and at
 * least once a minute, so a rotated service account token is picked up. An
 * exec credential is cached until its expirationTimestamp (or, without
 * one, until kube_config_invalidate after a 401).
 *
 * The plugin itself runs in execplugin.c, outside the lock that guards the
 * cached credentials: while one thread runs it, the others go on with the
 * credential that has not expired yet, or wait for that run.
 *
 * struct kube_config is shared by every thread: kube_config_credentials is
 * thread-safe. Tokens and keys are wiped before they are freed and never
 * appear in an error message.
 */
#ifndef APPDB_KUBE_CONFIG_H
#define APPDB_KUBE_CONFIG_H

#include "err.h"

#include <stddef.h>

#define KUBE_SA_DIR_DEFAULT "/var/run/secrets/kubernetes.io/serviceaccount"
#define KUBE_SA_DIR_ENV "APPDB_SERVICEACCOUNT_DIR"

struct kube_exec {
	char *api_version;
	char *command;
	char **args; /* NULL-terminated */
	char **env;  /* "NAME=value", NULL-terminated */
	int provide_cluster_info;
};

struct kube_config {
	char *server;  /* "https://host:port", no trailing slash */
	char *ca_file; /* NULL: the system trust store (or ca_data) */
	char *ca_data; /* PEM, decoded from certificate-authority-data */
	size_t ca_data_len;
	int insecure; /* insecure-skip-tls-verify: true */
	char *tls_server_name;
	char *ns;    /* context namespace, in-cluster namespace file, else "default" */
	char *token; /* static bearer token */
	char *token_file;
	char *cert_file, *key_file;
	char *cert_data, *key_data; /* PEM */
	size_t cert_data_len, key_data_len;
	struct kube_exec *exec;
	int in_cluster;
	struct kube_config_cache *cache; /* private: token file and exec cache */
	double (*clock)(void);           /* wall clock seconds; tests may replace it */
	double exec_timeout;             /* seconds a plugin may run; 0: 30 */
};

/*
 * What a request presents. Owned copies: kube_creds_clear wipes and frees.
 * cert/key are PEM blobs (from -data or an exec credential) or files.
 */
struct kube_creds {
	char *token;
	char *cert_pem, *key_pem;
	size_t cert_pem_len, key_pem_len;
};

/*
 * Loads a kubeconfig file. path NULL: the first entry of $KUBECONFIG, else
 * ~/.kube/config. context NULL: current-context. Returns 0, APPDB_EIO
 * (unreadable) or APPDB_EINVAL (with the field named in err).
 */
int kube_config_load(struct kube_config **out, const char *path, const char *context,
                     struct err *err);

/* The in-cluster configuration. APPDB_ENOTFOUND when not in a cluster. */
int kube_config_in_cluster(struct kube_config **out, struct err *err);

/*
 * The usual order: path when given, else in-cluster when
 * KUBERNETES_SERVICE_HOST is set, else $KUBECONFIG or ~/.kube/config.
 */
int kube_config_auto(struct kube_config **out, const char *path, struct err *err);

/*
 * The current credentials (token file re-read when changed, exec plugin
 * run when its credential is missing or expired). Thread-safe. Returns 0,
 * APPDB_EIO or APPDB_EUNAUTHORIZED (exec plugin failed).
 */
int kube_config_credentials(struct kube_creds *out, struct kube_config *cfg, struct err *err);

/* Forgets cached credentials (after a 401): the next call re-reads or re-runs. */
void kube_config_invalidate(struct kube_config *cfg);

void kube_creds_clear(struct kube_creds *c);
void kube_config_free(struct kube_config *cfg);

#endif
