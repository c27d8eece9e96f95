/*
 * ctl.c - the controller's shared flags.
 */
#include "ctl.h"

#include "clock.h"
#include "metrics.h"

#include <unistd.h>

void ctl_set_api_up(struct ctl *c, int up, const struct log_ctx *log)
{
	if (atomic_exchange(&c->api_up, up) != up)
		log_info(log, "kubernetes API %s", up ? "reachable" : "unreachable");
	metrics_set_kube_api_up(c->metrics, up);
}

int ctl_api_up(struct ctl *c)
{
	return atomic_load(&c->api_up);
}

int ctl_stopping(struct ctl *c)
{
	return atomic_load(&c->stopping);
}

void ctl_nap(struct ctl *c, double seconds)
{
	double end = clock_mono() + seconds;

	while (!ctl_stopping(c) && clock_mono() < end)
		usleep(100 * 1000);
}
