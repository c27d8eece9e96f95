/*
 * backoff.c - capped exponential backoff.
 */
#include "backoff.h"

#include <math.h>

double backoff_delay(double base, double cap, int n)
{
	double d;

	if (n < 1)
		n = 1;
	if (n > 60)
		return cap;
	d = base * ldexp(1.0, n - 1);
	return d > cap ? cap : d;
}

double backoff_spread(double d, double spread, double r)
{
	return d * (1.0 - spread + 2.0 * spread * r);
}
