/*
 * controller.h - `appdb-operator run`: the controller of DESIGN section 8.
 *
 * Threads: one watch loop per watched namespace (or one for all), the
 * workers (config `workers`), leader election when enabled, the HTTP server's
 * own threads, and the main thread waiting for SIGTERM/SIGINT. They share
 * one struct ctl (ctl.h: the store, the work queue, the Events recorder,
 * ...); each worker owns its engine, its Kubernetes client and its
 * kubernetesSecret source; each watch owns its client (watch.h).
 */
#ifndef APPDB_CONTROLLER_H
#define APPDB_CONTROLLER_H

#include "config.h"
#include "sources.h"

/*
 * Runs until SIGTERM or SIGINT: stops taking work, lets running reconciles
 * finish, releases the Lease, flushes the cache. cfg is borrowed.
 * kubeconfig_path may be NULL (in-cluster, $KUBECONFIG, ~/.kube/config).
 * Returns the process exit code: 0 after a clean stop, 2 when it could not
 * start.
 */
int controller_run(const struct config *cfg, const char *kubeconfig_path,
                   const struct sources *sources);

#endif
