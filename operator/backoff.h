/*
 * backoff.h - capped exponential backoff, the one the work queue and the
 * controller's list/watch retries use. Pure functions; thread-safe.
 */
#ifndef APPDB_BACKOFF_H
#define APPDB_BACKOFF_H

/* base * 2^(n-1) seconds for attempt n (1, 2, ...; below 1 counts as 1), at most cap. */
double backoff_delay(double base, double cap, int n);

/*
 * d spread by +-spread (a fraction: 0.2 is +-20 %) with r drawn uniformly
 * from [0, 1].
 */
double backoff_spread(double d, double spread, double r);

#endif
